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

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
