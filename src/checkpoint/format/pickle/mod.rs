//! A pickle reader that cannot run code: the subset of Python's pickle
//! machine (protocols 0–5) that a PyTorch `state_dict` needs, with an
//! explicit allow-list of globals modelled on PyTorch's own
//! `torch/_weights_only_unpickler.py`. Every other global (`os.system`, a
//! model class, `__main__.Net`) is refused by name, before anything could
//! be called — and nothing is ever called: allowed globals are interpreted
//! here (`_rebuild_tensor_v2` becomes a [`TensorRef`]), not executed.
//!
//! Objects live in an arena and refer to each other by index, so a hostile
//! file cannot blow the stack (no recursive drop, no recursive walk) and
//! shared references (`BINGET` of a dict that is still being filled) see
//! the same object, as in Python. Every length read from the file is
//! checked against the bytes that remain before anything is allocated.

mod machine;
mod value;

pub use machine::{PersistentIds, PickleError, load};
pub use value::{Global, Obj, Pickle, StorageRef, TensorRef, TorchDtype, Value};
