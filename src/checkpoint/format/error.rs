//! Why a checkpoint file was not read: [`FormatError`] for the format,
//! [`ReadError`] once I/O and the file's name come in.

/// Why a file was not read, before any path is attached (the caller adds
/// the file name and the way out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    Empty,
    /// A recognised format we do not read, with the way out.
    Other {
        what: String,
        way_out: String,
    },
    /// A pickle that needs Python code (a global outside the allow-list).
    NeedsCode(String),
    PlainPickle,
    OptimizerState,
    NotStateDict(String),
    AmbiguousKey(Vec<String>),
    BadKey {
        key: String,
        keys: Vec<String>,
    },
    Damaged(String),
    /// Starts like safetensors but its header is not valid.
    BadSafetensors(String),
    Unsupported(String),
    Unknown,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for FormatError {}

impl FormatError {
    /// The message after "<path>: ".
    pub fn message(&self) -> String {
        match self {
            FormatError::Empty => "the file is empty (0 bytes); re-copy or re-save the checkpoint".into(),
            FormatError::Other { what, way_out } => format!("{what}, which mtl-inspect does not read; {way_out}"),
            FormatError::NeedsCode(g) => format!(
                "refused: the pickle refers to the Python object '{g}', and loading it would import and run code (a whole pickled model or a custom class is not a state_dict). Nothing was executed. Save only the weights: torch.save(model.state_dict(), 'model_state.pt') or safetensors.torch.save_file(model.state_dict(), 'model.safetensors')"
            ),
            FormatError::PlainPickle => "refused: it is a plain Python pickle, not a torch.save archive or safetensors file, and mtl-inspect reads no plain pickles. If you trust its source, load it in Python and save only the weights: torch.save(state_dict, 'model_state.pt') or safetensors.torch.save_file(state_dict, 'model.safetensors')".into(),
            FormatError::OptimizerState => "it holds an optimizer's state_dict ('state', 'param_groups'), not model weights; pass the model checkpoint instead".into(),
            FormatError::NotStateDict(why) => format!(
                "no state_dict found: {why}; save the model's weights: torch.save(model.state_dict(), 'model_state.pt')"
            ),
            FormatError::AmbiguousKey(c) => format!(
                "several top-level entries hold tensors: {}; pass --key NAME to choose one",
                c.join(", ")
            ),
            FormatError::BadKey { key, keys } => format!(
                "--key '{key}' is not a top-level dict of tensors in the file; its top-level keys are: {}",
                keys.join(", ")
            ),
            FormatError::Damaged(why) => format!("the file is damaged or truncated: {why}"),
            FormatError::BadSafetensors(why) => format!("not a valid safetensors file: {why}"),
            FormatError::Unsupported(why) => format!("cannot be read: {why}"),
            FormatError::Unknown => "not a checkpoint format mtl-inspect knows: it reads safetensors (.safetensors, a sharded *.safetensors.index.json or a folder holding one) and torch.save zip archives (.pt, .pth, .bin, .ckpt)".into(),
        }
    }
}

/// A failure of [`read`](super::read): I/O on a named file, or the format.
#[derive(Debug)]
pub enum ReadError {
    Io(std::path::PathBuf, std::io::Error),
    /// A problem with another file than the one asked for (a shard).
    InFile(std::path::PathBuf, FormatError),
    Format(FormatError),
}
