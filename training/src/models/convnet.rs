//! The convolutional multi-task network (paper §4, Fig. 1): shared 3×3
//! convolutions without bias, each followed by a norm layer and ReLU,
//! global average pooling, shared linear layers without bias + norm + ReLU,
//! and a linear head per task. With a task-specific norm the activations
//! fork into `T` task paths at the first norm layer and every later shared
//! convolution runs once over all tasks' activations (tasks folded into the
//! batch dimension); with shared BN they stay one path. A forward may run a
//! chunk of the tasks only ([`MultiTaskNet::forward_tasks`]): the task paths
//! of the others are never built.

use std::ops::Range;

use candle_core::{D, Module, Result, Tensor};

use crate::layers::relu::relu;
use crate::layers::{NormKind, NormParams, TaskLayout, TaskNorm};
use crate::vars::Vars;

/// One convolution stage.
#[derive(Debug, Clone, Copy)]
pub struct ConvStage {
    pub out: usize,
    pub stride: usize,
    /// 2×2 max pooling after the ReLU.
    pub pool: bool,
}

/// A shared weight op of the trunk, as a [`ForwardTap`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedOp {
    /// k×k convolution without bias (k from the weight's shape).
    Conv { stride: usize, pad: usize },
    /// `x · Wᵀ` without bias.
    Linear,
}

/// Sees every shared weight op of a forward pass, in depth order: the
/// per-task gradient diagnostics (`crate::diagnose::task_grads`) attach to
/// the ops' outputs here. The plain [`MultiTaskNet::forward`] uses none.
pub trait ForwardTap {
    /// Run the trunk on `T` task-major copies of the images instead of once,
    /// so that every shared op, the first convolution included, has task
    /// `t`'s rows in block `t`. The values are the same (each task's first
    /// norm layer sees the same N samples); only task-specific norms allow it.
    fn fold_input(&self) -> bool {
        false
    }

    /// `output` = op(`input`, `weight`); returns the tensor the network
    /// continues with (`output`, or a value-preserving function of it).
    fn shared_op(
        &mut self,
        weight: &Tensor,
        op: SharedOp,
        input: &Tensor,
        output: Tensor,
    ) -> Result<Tensor>;
}

struct NoTap;

impl ForwardTap for NoTap {
    fn shared_op(&mut self, _: &Tensor, _: SharedOp, _: &Tensor, output: Tensor) -> Result<Tensor> {
        Ok(output)
    }
}

/// How the per-task linear heads start (`--heads`, metadata `mtl.heads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadInit {
    /// PyTorch's default for `nn.Linear(F, 1)` per task, drawn
    /// independently: weight and bias from U(−1/√F, 1/√F). What FAMO's and
    /// FairGrad's CelebA networks (and the paper's, App. F.1) start from.
    Independent,
    /// Every head starts from the same random weight row, bias 0. With
    /// independent heads each task prefers an arbitrary subset of the last
    /// layer's (interchangeable) filters and its gates follow that accident
    /// of initialisation; from a common start only the labels tell tasks
    /// apart, so tasks whose labels agree gate alike. Not PyTorch's default.
    Tied,
}

impl HeadInit {
    pub fn name(self) -> &'static str {
        match self {
            HeadInit::Independent => "independent",
            HeadInit::Tied => "tied",
        }
    }

    pub fn parse(s: &str) -> Option<HeadInit> {
        [HeadInit::Independent, HeadInit::Tied]
            .into_iter()
            .find(|h| h.name() == s)
    }
}

impl std::fmt::Display for HeadInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The architecture of a [`MultiTaskNet`] and how its heads start.
#[derive(Debug, Clone)]
pub struct ConvNetSpec {
    pub in_channels: usize,
    pub image_size: usize,
    pub convs: Vec<ConvStage>,
    pub fc: Vec<usize>,
    pub heads: HeadInit,
}

struct ConvBlock {
    weight: Tensor,
    norm: TaskNorm,
    stage: ConvStage,
}

struct FcBlock {
    weight: Tensor,
    norm: TaskNorm,
}

pub struct MultiTaskNet {
    pub norm: NormKind,
    /// Use the fused norm kernel and im2col convolution on the CPU (default);
    /// `false` runs candle's own ops, for speed comparisons.
    pub fused: bool,
    pub tasks: usize,
    convs: Vec<ConvBlock>,
    fcs: Vec<FcBlock>,
    head_weight: Tensor,
    head_bias: Tensor,
    norm_layers: Vec<String>,
}

/// Re-creates the `[1, F]` weight `row` as `[T, F]` with every row equal to
/// it, under the same name.
fn tied_rows(vars: &Vars, name: &str, row: &Tensor, tasks: usize) -> Result<Tensor> {
    vars.replace_weight(name, &row.repeat((tasks, 1))?)
}

impl MultiTaskNet {
    /// Builds the network under `vars` (weights drawn from its seeded
    /// generator in construction order). Tensor paths:
    /// `features.<i>.conv.weight`, `features.<i>.norm.*`,
    /// `classifier.<j>.linear.weight`, `classifier.<j>.norm.*`,
    /// `heads.weight` `[T, F]`, `heads.bias` `[T]`.
    pub fn new(
        spec: &ConvNetSpec,
        norm: NormKind,
        tasks: usize,
        params: NormParams,
        vars: &Vars,
    ) -> Result<Self> {
        let mut norm_layers = Vec::new();
        let mut convs = Vec::with_capacity(spec.convs.len());
        let mut c_in = spec.in_channels;
        let features = vars.pp("features");
        for (i, stage) in spec.convs.iter().enumerate() {
            let block = features.pp(i);
            let fan_in = (c_in * 9) as f64;
            let weight = block.pp("conv").weight(
                "weight",
                (stage.out, c_in, 3, 3),
                fan_in.sqrt().recip(),
            )?;
            let nv = block.pp("norm");
            norm_layers.push(nv.prefix());
            let norm = TaskNorm::new(norm, &nv, tasks, stage.out, params)?;
            convs.push(ConvBlock {
                weight,
                norm,
                stage: *stage,
            });
            c_in = stage.out;
        }
        let mut fcs = Vec::with_capacity(spec.fc.len());
        let classifier = vars.pp("classifier");
        for (j, &out) in spec.fc.iter().enumerate() {
            let block = classifier.pp(j);
            let weight =
                block
                    .pp("linear")
                    .weight("weight", (out, c_in), (c_in as f64).sqrt().recip())?;
            let nv = block.pp("norm");
            norm_layers.push(nv.prefix());
            fcs.push(FcBlock {
                weight,
                norm: TaskNorm::new(norm, &nv, tasks, out, params)?,
            });
            c_in = out;
        }
        let heads = vars.pp("heads");
        let bound = (c_in as f64).sqrt().recip();
        let (head_weight, head_bias) = match spec.heads {
            HeadInit::Tied => {
                let row = heads.weight("weight", (1, c_in), bound)?;
                let w = tied_rows(&heads, "weight", &row, tasks)?;
                (w, heads.weight("bias", tasks, 0.0)?)
            }
            HeadInit::Independent => (
                heads.weight("weight", (tasks, c_in), bound)?,
                heads.weight("bias", tasks, bound)?,
            ),
        };
        Ok(MultiTaskNet {
            norm,
            fused: true,
            tasks,
            convs,
            fcs,
            head_weight,
            head_bias,
            norm_layers,
        })
    }

    /// Names of the norm layers in depth order (the checkpoint's
    /// `mtl.layers`).
    pub fn norm_layers(&self) -> &[String] {
        &self.norm_layers
    }

    /// Logits `[N, T]` for images `[N, C, H, W]`.
    pub fn forward(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_tapped(images, train, &mut NoTap)
    }

    /// Logits `[N, b − a]` of the tasks `a..b` only: each task-specific layer
    /// uses those tasks' rows of its parameters and updates only their
    /// running statistics, so the result is the same columns of
    /// [`forward`](Self::forward) while the activations held scale with
    /// `b − a` instead of `T`. With shared BN the trunk is the same for
    /// every chunk (its statistics are over all N samples, whatever the
    /// tasks), and a training-mode call updates the running statistics each
    /// time; `crate::step` therefore never chunks it.
    pub fn forward_tasks(
        &self,
        images: &Tensor,
        train: bool,
        tasks: Range<usize>,
    ) -> Result<Tensor> {
        self.forward_tasks_tapped(images, train, tasks, &mut NoTap)
    }

    /// [`forward`](Self::forward) with `tap` called at every shared weight op.
    pub fn forward_tapped(
        &self,
        images: &Tensor,
        train: bool,
        tap: &mut dyn ForwardTap,
    ) -> Result<Tensor> {
        self.forward_tasks_tapped(images, train, 0..self.tasks, tap)
    }

    fn forward_tasks_tapped(
        &self,
        images: &Tensor,
        train: bool,
        tasks: Range<usize>,
        tap: &mut dyn ForwardTap,
    ) -> Result<Tensor> {
        if tasks.is_empty() || tasks.end > self.tasks {
            candle_core::bail!(
                "task range {}..{} is empty or beyond the model's {} tasks",
                tasks.start,
                tasks.end,
                self.tasks
            );
        }
        let layout = TaskLayout {
            tasks: tasks.len(),
            n: images.dim(0)?,
            first: tasks.start,
        };
        let mut x = if tap.fold_input() {
            if !self.norm.is_task_specific() {
                candle_core::bail!(
                    "fold_input needs task-specific norms; shared BN ({}) mixes the copies' statistics",
                    self.norm
                );
            }
            images.repeat((layout.tasks, 1, 1, 1))?
        } else {
            images.clone()
        };
        for block in &self.convs {
            let stride = block.stage.stride;
            let y = if self.fused {
                crate::layers::conv::conv2d(&x, &block.weight, stride, 1)?
            } else {
                x.conv2d(&block.weight, 1, stride, 1, 1)?
            };
            let y = tap.shared_op(&block.weight, SharedOp::Conv { stride, pad: 1 }, &x, y)?;
            x = if self.fused {
                block.norm.forward_relu(&y, layout, train)?
            } else {
                relu(&block.norm.forward(&y, layout, train)?)?
            };
            if block.stage.pool {
                // Not `Tensor::max_pool2d`: its backward scales gradients
                // by 1/4 (candle 0.9.2); see `layers::pool`.
                x = crate::layers::pool::max_pool2d(&x, 2)?;
            }
        }
        x = x.mean(D::Minus1)?.mean(D::Minus1)?;
        for block in &self.fcs {
            let y = x.matmul(&block.weight.t()?)?;
            x = tap.shared_op(&block.weight, SharedOp::Linear, &x, y)?;
            x = if self.fused {
                block.norm.forward_relu(&x, layout, train)?
            } else {
                relu(&block.norm.forward(&x, layout, train)?)?
            };
        }
        self.heads(&x, layout)
    }

    /// The heads of `layout`'s tasks.
    fn heads(&self, x: &Tensor, layout: TaskLayout) -> Result<Tensor> {
        let f = x.dim(1)?;
        let weight = layout.task_rows(&self.head_weight)?;
        let bias = layout.task_rows(&self.head_bias)?;
        let logits = if layout.blocks(x)? == 1 {
            // Shared features: every head reads the same vector.
            candle_nn::Linear::new(weight, None).forward(x)?
        } else {
            // Task t's head reads task t's features: [T, N, F] × [T, F, 1].
            let xt = x.reshape((layout.tasks, layout.n, f))?;
            let w = weight.reshape((layout.tasks, f, 1))?;
            xt.matmul(&w)?
                .reshape((layout.tasks, layout.n))?
                .t()?
                .contiguous()?
        };
        logits.broadcast_add(&bias.reshape((1, layout.tasks))?)
    }
}
