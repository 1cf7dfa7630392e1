//! What a pickle evaluates to: [`Value`]s and the arena of [`Obj`]ects
//! they refer to ([`Pickle`]), the torch storages and tensors among them,
//! and the allow-list of globals ([`allowed_global`]) with what each one
//! stands for.

use std::rc::Rc;

/// The storage dtypes PyTorch writes, by storage class or dtype name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchDtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    /// Complex, quantized and 8-bit float storages: recognised, not decoded.
    Other(&'static str),
}

impl TorchDtype {
    /// Bytes per element (`None` for kinds we do not decode).
    pub fn size(self) -> Option<usize> {
        Some(match self {
            TorchDtype::F64 | TorchDtype::I64 => 8,
            TorchDtype::F32 | TorchDtype::I32 => 4,
            TorchDtype::F16 | TorchDtype::BF16 | TorchDtype::I16 => 2,
            TorchDtype::I8 | TorchDtype::U8 | TorchDtype::Bool => 1,
            TorchDtype::Other(_) => return None,
        })
    }

    fn from_storage_class(name: &str) -> Option<TorchDtype> {
        Some(match name {
            "DoubleStorage" => TorchDtype::F64,
            "FloatStorage" => TorchDtype::F32,
            "HalfStorage" => TorchDtype::F16,
            "BFloat16Storage" => TorchDtype::BF16,
            "LongStorage" => TorchDtype::I64,
            "IntStorage" => TorchDtype::I32,
            "ShortStorage" => TorchDtype::I16,
            "CharStorage" => TorchDtype::I8,
            "ByteStorage" => TorchDtype::U8,
            "BoolStorage" => TorchDtype::Bool,
            "ComplexFloatStorage" => TorchDtype::Other("complex64"),
            "ComplexDoubleStorage" => TorchDtype::Other("complex128"),
            "QInt8Storage" => TorchDtype::Other("qint8"),
            "QUInt8Storage" => TorchDtype::Other("quint8"),
            "QInt32Storage" => TorchDtype::Other("qint32"),
            "QUInt4x2Storage" => TorchDtype::Other("quint4x2"),
            "QUInt2x4Storage" => TorchDtype::Other("quint2x4"),
            "UntypedStorage" => TorchDtype::U8,
            _ => return None,
        })
    }

    fn from_dtype_name(name: &str) -> Option<TorchDtype> {
        Some(match name {
            "float64" | "double" => TorchDtype::F64,
            "float32" | "float" => TorchDtype::F32,
            "float16" | "half" => TorchDtype::F16,
            "bfloat16" => TorchDtype::BF16,
            "int64" | "long" => TorchDtype::I64,
            "int32" | "int" => TorchDtype::I32,
            "int16" | "short" => TorchDtype::I16,
            "int8" => TorchDtype::I8,
            "uint8" => TorchDtype::U8,
            "bool" => TorchDtype::Bool,
            "complex64" | "cfloat" => TorchDtype::Other("complex64"),
            "complex128" | "cdouble" => TorchDtype::Other("complex128"),
            "float8_e4m3fn" => TorchDtype::Other("float8_e4m3fn"),
            "float8_e5m2" => TorchDtype::Other("float8_e5m2"),
            _ => return None,
        })
    }
}

/// A global the allow-list admits, interpreted rather than imported.
#[derive(Debug, Clone, PartialEq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    /// A tensor kind the allow-list admits but that we do not decode
    /// (quantized, sparse, nested, meta, device-specific).
    UnsupportedRebuild(&'static str),
    StorageClass(TorchDtype),
    Dtype(TorchDtype),
    TensorClass,
    ParameterClass,
    Size,
    Device,
    Set,
    FrozenSet,
    Bytearray,
    CodecsEncode,
    GetLayout,
    Complex,
}

/// The allow-list: `module.name` → what it stands for. Anything not here is
/// refused (PyTorch's weights-only loader admits the same family).
pub(super) fn allowed_global(module: &str, name: &str) -> Option<Global> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch._utils", "_rebuild_parameter_with_state") => Global::RebuildParameterWithState,
        ("torch._tensor", "_rebuild_from_type_v2") => Global::RebuildFromTypeV2,
        ("torch._utils", "_rebuild_qtensor") => Global::UnsupportedRebuild("quantized tensor"),
        ("torch._utils", "_rebuild_sparse_tensor") => Global::UnsupportedRebuild("sparse tensor"),
        ("torch._utils", "_rebuild_nested_tensor") => Global::UnsupportedRebuild("nested tensor"),
        ("torch._utils", "_rebuild_meta_tensor_no_storage") => {
            Global::UnsupportedRebuild("meta tensor")
        }
        ("torch._utils", "_rebuild_wrapper_subclass") => {
            Global::UnsupportedRebuild("tensor subclass")
        }
        ("torch._utils", "_rebuild_tensor_v3") => Global::UnsupportedRebuild("tensor (v3)"),
        ("torch._utils", "_rebuild_device_tensor_from_numpy")
        | ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor") => {
            Global::UnsupportedRebuild("device tensor")
        }
        ("torch", "Tensor") | ("torch._tensor", "Tensor") => Global::TensorClass,
        ("torch.nn.parameter", "Parameter") => Global::ParameterClass,
        ("torch", "Size") => Global::Size,
        ("torch", "device") => Global::Device,
        ("torch.serialization", "_get_layout") => Global::GetLayout,
        ("builtins", "set") | ("__builtin__", "set") => Global::Set,
        ("builtins", "frozenset") | ("__builtin__", "frozenset") => Global::FrozenSet,
        ("builtins", "bytearray") | ("__builtin__", "bytearray") => Global::Bytearray,
        ("builtins", "complex") | ("__builtin__", "complex") => Global::Complex,
        ("_codecs", "encode") => Global::CodecsEncode,
        ("torch", n) | ("torch.storage", n) => {
            if let Some(d) = TorchDtype::from_storage_class(n) {
                Global::StorageClass(d)
            } else if let Some(d) = TorchDtype::from_dtype_name(n) {
                Global::Dtype(d)
            } else if n.ends_with("Storage") {
                // A storage class newer than this list (float8, uint16, …):
                // recognised as data, its tensors listed but not decoded.
                Global::StorageClass(TorchDtype::Other("unknown storage type"))
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

/// A storage named by a persistent id: `('storage', type, key, location, numel)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: TorchDtype,
    /// Elements (bytes for an untyped storage).
    pub numel: u64,
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond i64 (kept only as its sign and width).
    BigInt,
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// An object in the arena.
    Obj(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Keys in insertion order (Python dicts keep it; a state_dict's order is
    /// the model's registration order).
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
    /// Something recognised but not decoded, with what it is.
    Unsupported(String),
}

/// The result of running a pickle: its value and the objects it refers to.
#[derive(Debug)]
pub struct Pickle {
    pub root: Value,
    pub objs: Vec<Obj>,
    /// The pickle protocol named by `PROTO` (0 if none).
    pub protocol: u8,
    /// Byte length of the pickle (up to and including STOP).
    pub consumed: usize,
}

impl Pickle {
    pub fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(*i),
            _ => None,
        }
    }
    pub fn dict(&self, v: &Value) -> Option<&[(Value, Value)]> {
        match self.obj(v)? {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }
    pub fn tensor(&self, v: &Value) -> Option<&TensorRef> {
        match self.obj(v)? {
            Obj::Tensor(t) => Some(t),
            _ => None,
        }
    }
    pub fn str<'a>(&self, v: &'a Value) -> Option<&'a str> {
        match v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// A short description of a value for messages ("dict", "tensor", "int").
    pub fn kind(&self, v: &Value) -> &'static str {
        match v {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Obj(_) => match self.obj(v) {
                Some(Obj::List(_)) => "list",
                Some(Obj::Tuple(_)) => "tuple",
                Some(Obj::Dict(_)) => "dict",
                Some(Obj::Set(_)) => "set",
                Some(Obj::Global(_)) => "class",
                Some(Obj::Storage(_)) => "storage",
                Some(Obj::Tensor(_)) => "tensor",
                Some(Obj::Unsupported(_)) | None => "object",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_storage_classes_are_data_not_code() {
        assert!(matches!(
            allowed_global("torch", "Float8_e4m3fnStorage"),
            Some(Global::StorageClass(TorchDtype::Other(_)))
        ));
        assert_eq!(allowed_global("torch", "load"), None);
        assert_eq!(allowed_global("torch.nn.modules.conv", "Conv2d"), None);
        assert_eq!(allowed_global("builtins", "eval"), None);
    }
}
