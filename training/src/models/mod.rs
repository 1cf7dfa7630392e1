//! The multi-task networks `mtl-train` builds: a convolutional trunk whose
//! every norm layer is the `--norm` choice, global average pooling, a
//! fully connected trunk, and one linear head per task.

pub mod convnet;
pub mod loss;

pub use convnet::{ConvNetSpec, ConvStage, ForwardTap, HeadInit, MultiTaskNet, SharedOp};

/// The `--model` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// The 40-task CelebA CNN of FAMO/FairGrad adopted by the paper (App. F.1).
    CelebaCnn,
    /// A small CNN for the synthetic `shapes` dataset.
    ShapesCnn,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::CelebaCnn, ModelKind::ShapesCnn];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::CelebaCnn => "celeba-cnn",
            ModelKind::ShapesCnn => "shapes-cnn",
        }
    }

    pub fn parse(s: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn spec(self) -> ConvNetSpec {
        let stage = |out, stride, pool| ConvStage { out, stride, pool };
        match self {
            // 3×3 convs without bias 3→64 (pool), 64→128, 128→128 (pool),
            // 128→256, 256→256 (pool), 256→512, 512→512, GAP, then twice
            // Linear 512→512 + norm + ReLU: 9 norm layers, 2880 gates a task.
            ModelKind::CelebaCnn => ConvNetSpec {
                in_channels: 3,
                image_size: 64,
                convs: vec![
                    stage(64, 1, true),
                    stage(128, 1, false),
                    stage(128, 1, true),
                    stage(256, 1, false),
                    stage(256, 1, true),
                    stage(512, 1, false),
                    stage(512, 1, false),
                ],
                fc: vec![512, 512],
                heads: HeadInit::Independent,
            },
            // Sized so one seed of the shapes demo trains in under two
            // minutes on a 2-core CPU with 16 tasks batched (84–96 s
            // measured, training/README.md): a strided first
            // convolution, two narrow ones, GAP straight into the heads.
            ModelKind::ShapesCnn => ConvNetSpec {
                in_channels: 3,
                image_size: 32,
                convs: vec![stage(24, 2, false), stage(16, 1, true), stage(16, 1, true)],
                fc: vec![],
                // Tied: the shapes fixtures and their self-test were made
                // with it (`HeadInit::Tied` says why); `--heads` changes it.
                heads: HeadInit::Tied,
            },
        }
    }
}

/// Layer widths that replace a model's own (`--filters`, `--fc`; recorded
/// as `mtl.filters` and `mtl.fc`, so `eval` and `diagnose` rebuild the same
/// network). `None` keeps the model's widths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Widths {
    /// Output channels of each convolution, as many as the model has.
    pub filters: Option<Vec<usize>>,
    /// Widths of the fully connected layers between pooling and the heads
    /// (each with a task-specific norm); may differ in number from the
    /// model's own, an empty list removes them.
    pub fc: Option<Vec<usize>>,
}

impl Widths {
    /// Checks the widths against `kind`: one filter count per convolution,
    /// every width at least 1.
    pub fn check(&self, kind: ModelKind) -> Result<(), String> {
        let convs = kind.spec().convs.len();
        if let Some(f) = &self.filters
            && f.len() != convs
        {
            return Err(format!(
                "--filters gives {} width(s), {kind} has {convs} convolutions; pass {convs} comma-separated numbers",
                f.len()
            ));
        }
        let all = self.filters.iter().chain(&self.fc).flatten();
        if all.clone().any(|&w| w == 0) {
            return Err("--filters and --fc widths must be at least 1".into());
        }
        Ok(())
    }

    /// The metadata entries (`filters`, `fc`) of the widths that were set.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let mut out = Vec::new();
        if let Some(f) = &self.filters {
            out.push(("filters", list(f)));
        }
        if let Some(f) = &self.fc {
            out.push(("fc", list(f)));
        }
        out
    }

    /// Parses the metadata values written by [`metadata`](Self::metadata)
    /// (an empty `fc` is no fully connected layer).
    pub fn from_metadata(filters: Option<&str>, fc: Option<&str>) -> Result<Self, String> {
        Ok(Widths {
            filters: filters
                .map(|s| parse_widths("mtl.filters", s))
                .transpose()?,
            fc: fc.map(|s| parse_widths("mtl.fc", s)).transpose()?,
        })
    }
}

/// Parses `24,16,16` (or the empty string: no layer) into widths.
pub fn parse_widths(name: &str, s: &str) -> Result<Vec<usize>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .map_err(|_| format!("{name} '{s}' is not a comma list of widths like 48,32,32"))
        })
        .collect()
}

impl ModelKind {
    /// [`spec`](Self::spec) with `heads` and `widths` applied (checked by
    /// [`Widths::check`]).
    pub fn spec_with(self, heads: HeadInit, widths: &Widths) -> ConvNetSpec {
        let mut spec = self.spec();
        spec.heads = heads;
        if let Some(f) = &widths.filters {
            for (stage, &w) in spec.convs.iter_mut().zip(f) {
                stage.out = w;
            }
        }
        if let Some(fc) = &widths.fc {
            spec.fc = fc.clone();
        }
        spec
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
