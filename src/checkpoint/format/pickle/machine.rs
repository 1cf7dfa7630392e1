//! The pickle machine: runs the opcodes of protocols 0–5 that a
//! `state_dict` needs over a stack, a memo and the object arena, calling
//! no code — each allowed global is interpreted here.

use std::collections::HashMap;
use std::rc::Rc;

use super::value::{Global, Obj, Pickle, StorageRef, TensorRef, Value, allowed_global};

/// Why a pickle was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    /// A global outside the allow-list: loading it would import (and maybe
    /// run) Python code.
    #[error("it refers to the Python object '{0}', which only code can load")]
    Global(String),
    #[error("opcode {opcode} ({name}) at byte {pos} is not allowed: {why}")]
    Forbidden {
        opcode: u8,
        name: &'static str,
        pos: usize,
        why: &'static str,
    },
    #[error("malformed pickle at byte {pos}: {why}")]
    Malformed { pos: usize, why: String },
}

/// How storages named by persistent ids are found: the zip format names
/// them `('storage', type, key, location, numel)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistentIds {
    /// `torch.save`'s zip format.
    TorchStorage,
    /// A plain pickle: persistent ids are an error.
    None,
}

const MAX_DEPTH_MARKS: usize = 1 << 16;

/// Runs the pickle in `data` (which may continue past its STOP).
pub fn load(data: &[u8], pids: PersistentIds) -> Result<Pickle, PickleError> {
    Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objs: Vec::new(),
        protocol: 0,
        pids,
    }
    .run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    objs: Vec<Obj>,
    protocol: u8,
    pids: PersistentIds,
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82..=0x84 => "EXT",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        b'P' | b'Q' => "PERSID",
        _ => "opcode",
    }
}

impl<'a> Machine<'a> {
    fn err<T>(&self, why: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError::Malformed {
            pos: self.pos,
            why: why.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.err(format!(
                "needs {n} more bytes, {} left",
                self.data.len() - self.pos
            )),
        }
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn len_u64(&mut self) -> Result<usize, PickleError> {
        let n = self.u64()?;
        usize::try_from(n).or_else(|_| self.err("length does not fit in memory"))
    }
    /// A text line (protocol 0 arguments), without its newline.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return self.err("unterminated text argument");
        };
        let s = std::str::from_utf8(&rest[..n]).or_else(|_| self.err("text is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }
    /// A protocol-0 decimal integer; beyond i64 it is a [`Value::BigInt`].
    fn text_int(&self, s: &str, op: &str) -> Result<Value, PickleError> {
        match s.parse::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
                    Ok(Value::BigInt)
                } else {
                    self.err(format!("{op} argument is not an integer"))
                }
            }
        }
    }

    fn utf8(&self, b: &[u8]) -> Result<Rc<str>, PickleError> {
        std::str::from_utf8(b)
            .map(Rc::from)
            .or_else(|_| self.err("string is not UTF-8"))
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return self.err("pop across a MARK");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }
    fn top(&self) -> Result<&Value, PickleError> {
        match self.stack.last() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(m) = self.marks.pop() else {
            return self.err("no MARK on the stack");
        };
        if m > self.stack.len() {
            return self.err("MARK beyond the stack");
        }
        Ok(self.stack.split_off(m))
    }
    fn new_obj(&mut self, o: Obj) -> Value {
        self.objs.push(o);
        Value::Obj(self.objs.len() - 1)
    }
    fn push_obj(&mut self, o: Obj) {
        let v = self.new_obj(o);
        self.stack.push(v);
    }
    fn obj_mut(&mut self, v: &Value) -> Option<&mut Obj> {
        match v {
            Value::Obj(i) => self.objs.get_mut(*i),
            _ => None,
        }
    }
    fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(*i),
            _ => None,
        }
    }
    fn memo_get(&mut self, i: u32) -> Result<(), PickleError> {
        match self.memo.get(&i) {
            Some(v) => {
                let v = v.clone();
                self.stack.push(v);
                Ok(())
            }
            None => self.err(format!("memo key {i} was never stored")),
        }
    }
    fn memo_put(&mut self, i: u32) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        self.memo.insert(i, v);
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        match allowed_global(module, name) {
            Some(g) => {
                self.push_obj(Obj::Global(g));
                Ok(())
            }
            None => Err(PickleError::Global(format!("{module}.{name}"))),
        }
    }

    fn forbidden<T>(&self, op: u8, why: &'static str) -> Result<T, PickleError> {
        Err(PickleError::Forbidden {
            opcode: op,
            name: opcode_name(op),
            pos: self.pos.saturating_sub(1),
            why,
        })
    }

    fn append_items(&mut self, target: &Value, items: Vec<Value>) -> Result<(), PickleError> {
        match self.obj_mut(target) {
            Some(Obj::List(l)) => {
                l.extend(items);
                Ok(())
            }
            Some(Obj::Set(s)) => {
                s.extend(items);
                Ok(())
            }
            _ => self.err("APPEND to something that is not a list"),
        }
    }

    fn set_items(&mut self, target: &Value, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return self.err("SETITEMS with an odd number of items");
        }
        let Some(Obj::Dict(d)) = self.obj_mut(target) else {
            return self.err("SETITEM on something that is not a dict");
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            // Python semantics: a repeated key replaces the value in place.
            if let Some(slot) = d.iter_mut().find(|(kk, _)| *kk == k) {
                slot.1 = v;
            } else {
                d.push((k, v));
            }
        }
        Ok(())
    }

    fn int_arg(&self, v: &Value, what: &str) -> Result<u64, PickleError> {
        match v {
            Value::Int(i) if *i >= 0 => Ok(*i as u64),
            _ => self.err(format!("{what} is not a non-negative integer")),
        }
    }
    fn int_tuple(&self, v: &Value, what: &str) -> Result<Vec<u64>, PickleError> {
        match self.obj(v) {
            Some(Obj::Tuple(t)) | Some(Obj::List(t)) => {
                t.iter().map(|x| self.int_arg(x, what)).collect()
            }
            _ => self.err(format!("{what} is not a tuple")),
        }
    }
    fn tuple_items(&self, v: &Value) -> Result<Vec<Value>, PickleError> {
        match self.obj(v) {
            Some(Obj::Tuple(t)) => Ok(t.clone()),
            _ => self.err("REDUCE arguments are not a tuple"),
        }
    }

    /// Interprets a call of an allowed global.
    fn call(&mut self, g: Global, args: Vec<Value>) -> Result<Value, PickleError> {
        match g {
            Global::OrderedDict => {
                let mut d = Vec::new();
                if let Some(first) = args.first() {
                    let pairs = match self.obj(first) {
                        Some(Obj::List(l)) | Some(Obj::Tuple(l)) => l.clone(),
                        _ => return self.err("OrderedDict argument is not a list of pairs"),
                    };
                    for p in pairs {
                        match self.obj(&p) {
                            Some(Obj::Tuple(kv)) | Some(Obj::List(kv)) if kv.len() == 2 => {
                                d.push((kv[0].clone(), kv[1].clone()))
                            }
                            _ => return self.err("OrderedDict item is not a pair"),
                        }
                    }
                }
                Ok(self.new_obj(Obj::Dict(d)))
            }
            Global::RebuildTensorV2 | Global::RebuildTensor => {
                if args.len() < 4 {
                    return self.err("_rebuild_tensor with fewer than 4 arguments");
                }
                let storage = match self.obj(&args[0]) {
                    Some(Obj::Storage(s)) => s.clone(),
                    _ => return self.err("_rebuild_tensor without a storage"),
                };
                let offset = self.int_arg(&args[1], "storage offset")?;
                let size = self.int_tuple(&args[2], "tensor size")?;
                let stride = self.int_tuple(&args[3], "tensor stride")?;
                if size.len() != stride.len() {
                    return self.err("tensor size and stride differ in length");
                }
                Ok(self.new_obj(Obj::Tensor(TensorRef {
                    storage,
                    offset,
                    size,
                    stride,
                })))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => match args.first() {
                Some(v @ Value::Obj(_)) => Ok(v.clone()),
                _ => self.err("_rebuild_parameter without a tensor"),
            },
            Global::RebuildFromTypeV2 => {
                // (func, new_type, args, state): the type must be Tensor or
                // Parameter (anything else was refused as a global).
                if args.len() < 3 {
                    return self.err("_rebuild_from_type_v2 with fewer than 3 arguments");
                }
                let func = match self.obj(&args[0]) {
                    Some(Obj::Global(f)) => f.clone(),
                    _ => return self.err("_rebuild_from_type_v2 without a function"),
                };
                match self.obj(&args[1]) {
                    Some(Obj::Global(Global::TensorClass | Global::ParameterClass)) => {}
                    _ => return self.err("_rebuild_from_type_v2 of an unknown type"),
                }
                let inner = self.tuple_items(&args[2])?;
                self.call(func, inner)
            }
            Global::UnsupportedRebuild(what) => {
                Ok(self.new_obj(Obj::Unsupported(what.to_string())))
            }
            Global::Size => match args.first() {
                Some(v) => Ok(v.clone()),
                None => Ok(self.new_obj(Obj::Tuple(Vec::new()))),
            },
            Global::Device => match args.first() {
                Some(Value::Str(s)) => Ok(Value::Str(s.clone())),
                _ => Ok(Value::Str(Rc::from("device"))),
            },
            Global::Set | Global::FrozenSet => {
                let items = match args.first().and_then(|v| self.obj(v)) {
                    Some(Obj::List(l)) | Some(Obj::Tuple(l)) | Some(Obj::Set(l)) => l.clone(),
                    None if args.is_empty() => Vec::new(),
                    _ => return self.err("set() of something that is not a list"),
                };
                Ok(self.new_obj(Obj::Set(items)))
            }
            Global::Bytearray => match args.first() {
                Some(Value::Bytes(b)) => Ok(Value::Bytes(b.clone())),
                None => Ok(Value::Bytes(Rc::from(&b""[..]))),
                _ => self.err("bytearray() of something that is not bytes"),
            },
            Global::CodecsEncode => match args.first() {
                // Protocol 2 writes bytes as _codecs.encode(str, 'latin1').
                Some(Value::Str(s)) => {
                    let mut out = Vec::with_capacity(s.len());
                    for c in s.chars() {
                        match u8::try_from(u32::from(c)) {
                            Ok(b) => out.push(b),
                            Err(_) => return self.err("_codecs.encode of a non-latin-1 string"),
                        }
                    }
                    Ok(Value::Bytes(Rc::from(out)))
                }
                _ => self.err("_codecs.encode of something that is not a string"),
            },
            Global::GetLayout => Ok(self.new_obj(Obj::Unsupported("layout".into()))),
            Global::Complex => Ok(self.new_obj(Obj::Unsupported("complex number".into()))),
            Global::StorageClass(_)
            | Global::Dtype(_)
            | Global::TensorClass
            | Global::ParameterClass => self.err("a class or dtype called as a function"),
        }
    }

    fn persistent_id(&mut self, pid: Value) -> Result<Value, PickleError> {
        if self.pids == PersistentIds::None {
            return self.forbidden(b'Q', "persistent ids outside a torch.save archive");
        }
        let items = match self.obj(&pid) {
            Some(Obj::Tuple(t)) => t.clone(),
            _ => return self.err("persistent id is not a tuple"),
        };
        // The zip format writes 5 fields; the legacy format adds a sixth,
        // the view metadata of pre-1.0 storage views (None otherwise).
        let (kind, ty, key, numel) = match &items[..] {
            [kind, ty, key, _location, numel] => (kind, ty, key, numel),
            [kind, ty, key, _location, numel, Value::None] => (kind, ty, key, numel),
            [_, _, _, _, _, _] => {
                return self.err("storage views of pre-1.0 PyTorch are not supported");
            }
            _ => {
                return self.err(format!(
                    "persistent id has {} fields, expected 5",
                    items.len()
                ));
            }
        };
        if !matches!(kind, Value::Str(s) if &**s == "storage") {
            return self.err("persistent id is not a storage");
        }
        let dtype = match self.obj(ty) {
            Some(Obj::Global(Global::StorageClass(d))) => *d,
            Some(Obj::Global(Global::Dtype(d))) => *d,
            _ => return self.err("storage of an unknown type"),
        };
        let key = match key {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => return self.err("storage key is not a string"),
        };
        let numel = self.int_arg(numel, "storage size")?;
        Ok(self.new_obj(Obj::Storage(StorageRef { key, dtype, numel })))
    }

    fn run(mut self) -> Result<Pickle, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return self.err(format!("pickle protocol {p} is newer than 5"));
                    }
                    self.protocol = p;
                }
                0x95 => {
                    // FRAME: a length hint only.
                    self.u64()?;
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickle {
                        root,
                        objs: self.objs,
                        protocol: self.protocol,
                        consumed: self.pos,
                    });
                }
                b'(' => {
                    if self.marks.len() >= MAX_DEPTH_MARKS {
                        return self.err("too many nested MARKs");
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let b = self.take(4)?;
                    self.stack.push(Value::Int(
                        i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                    ));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.u32()? as usize
                    };
                    let b = self.take(n)?;
                    self.stack.push(long_le(b));
                }
                b'I' => {
                    let s = self.line()?;
                    let v = match s {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => self.text_int(s, "INT")?,
                    };
                    self.stack.push(v);
                }
                b'L' => {
                    let s = self.line()?.trim_end_matches('L');
                    let v = self.text_int(s, "LONG")?;
                    self.stack.push(v);
                }
                b'F' => {
                    let s = self.line()?;
                    match s.parse::<f64>() {
                        Ok(f) => self.stack.push(Value::Float(f)),
                        Err(_) => return self.err("FLOAT argument is not a number"),
                    }
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.stack.push(Value::Float(f64::from_be_bytes(a)));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.stack.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.stack.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.stack.push(Value::Str(s));
                }
                b'V' => {
                    // raw-unicode-escape; state_dict keys are plain ASCII.
                    let s = self.line()?;
                    self.stack.push(Value::Str(Rc::from(s)));
                }
                b'S' => {
                    let s = self.line()?;
                    let t = s
                        .strip_prefix('\'')
                        .and_then(|x| x.strip_suffix('\''))
                        .or_else(|| s.strip_prefix('"').and_then(|x| x.strip_suffix('"')));
                    match t {
                        Some(t) => self.stack.push(Value::Str(Rc::from(t))),
                        None => return self.err("STRING argument is not quoted"),
                    }
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.stack.push(Value::Bytes(Rc::from(b)));
                }
                b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    self.stack.push(Value::Bytes(Rc::from(b)));
                }
                0x8e | 0x96 => {
                    let n = self.len_u64()?;
                    let b = self.take(n)?;
                    self.stack.push(Value::Bytes(Rc::from(b)));
                }
                b')' => self.push_obj(Obj::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_obj(Obj::Tuple(items));
                }
                b']' => self.push_obj(Obj::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::List(items));
                }
                b'}' => self.push_obj(Obj::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let d = self.new_obj(Obj::Dict(Vec::new()));
                    self.set_items(&d, items)?;
                    self.stack.push(d);
                }
                0x8f => self.push_obj(Obj::Set(Vec::new())),
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Set(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?.clone();
                    self.append_items(&target, vec![v])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.append_items(&target, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, items)?;
                }
                b'g' => {
                    let s = self.line()?;
                    let i = s.parse::<u32>().or_else(|_| self.err("GET index"))?;
                    self.memo_get(i)?;
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(i)?;
                }
                b'p' => {
                    let s = self.line()?;
                    let i = s.parse::<u32>().or_else(|_| self.err("PUT index"))?;
                    self.memo_put(i)?;
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len()).or_else(|_| self.err("memo full"))?;
                    self.memo_put(i)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.global(&m, &n)?,
                        _ => return self.err("STACK_GLOBAL of non-strings"),
                    }
                }
                b'i' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    return Err(PickleError::Global(format!("{module}.{name}")));
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let args = self.tuple_items(&args)?;
                    let g = match self.obj(&func) {
                        Some(Obj::Global(g)) => g.clone(),
                        _ => return self.err("REDUCE of something that is not a global"),
                    };
                    let v = self.call(g, args)?;
                    self.stack.push(v);
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args); only OrderedDict and
                    // set are plain enough to build without their code.
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    match self.obj(&cls) {
                        Some(Obj::Global(Global::OrderedDict)) => {
                            self.push_obj(Obj::Dict(Vec::new()))
                        }
                        Some(Obj::Global(Global::Set | Global::FrozenSet)) => {
                            self.push_obj(Obj::Set(Vec::new()))
                        }
                        _ => {
                            return self.forbidden(op, "creating an object needs its class's code");
                        }
                    }
                }
                b'b' => {
                    // BUILD: object state (a state_dict's `_metadata`, a
                    // parameter's attributes) is not needed; nothing runs.
                    let _state = self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_id(pid)?;
                    self.stack.push(v);
                }
                b'P' => {
                    self.line()?;
                    return self.forbidden(op, "text persistent ids are not written by torch.save");
                }
                b'o' | 0x92 | 0x82..=0x84 => {
                    return self.forbidden(op, "creating an object needs its class's code");
                }
                0x97 | 0x98 => {
                    return self.forbidden(op, "out-of-band buffers are not part of a checkpoint");
                }
                _ => {
                    self.pos -= 1;
                    return self.err(format!("unknown opcode 0x{op:02x}"));
                }
            }
        }
    }
}

/// A little-endian two's-complement integer (LONG1/LONG4).
fn long_le(b: &[u8]) -> Value {
    if b.is_empty() {
        return Value::Int(0);
    }
    if b.len() > 8 {
        return Value::BigInt;
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    let mut a = if neg { [0xffu8; 8] } else { [0u8; 8] };
    a[..b.len()].copy_from_slice(b);
    Value::Int(i64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_os_system_before_anything_runs() {
        // pickle.dumps of an object whose __reduce__ is (os.system, ('touch x',)), protocol 2.
        let p = b"\x80\x02cposix\nsystem\nq\x00X\x07\x00\x00\x00touch xq\x01\x85q\x02Rq\x03.";
        let e = load(p, PersistentIds::None).unwrap_err();
        assert_eq!(e, PickleError::Global("posix.system".into()));
    }

    #[test]
    fn shared_references_see_later_items() {
        // d = {}; l = [d, d]; d['a'] = 1 — memo refers to the same dict.
        // pickle.dumps(([d], d), 2) with d filled after memoization.
        let p = b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01sh\x00\x86q\x01.";
        let r = load(p, PersistentIds::None).unwrap();
        let Some(Obj::Tuple(t)) = r.obj(&r.root) else {
            panic!()
        };
        assert_eq!(t[0], t[1]);
        assert_eq!(r.dict(&t[0]).unwrap().len(), 1);
    }

    #[test]
    fn long_values() {
        assert_eq!(long_le(&[0xff]), Value::Int(-1));
        assert_eq!(long_le(&[0x00, 0x01]), Value::Int(256));
        assert_eq!(long_le(&[1; 9]), Value::BigInt);
        // LONG1 of 10 bytes (legacy torch's magic number) is a big int.
        let p = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.";
        assert_eq!(load(p, PersistentIds::None).unwrap().root, Value::BigInt);
    }

    #[test]
    fn lengths_beyond_the_input_are_errors_not_allocations() {
        let p = b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f";
        assert!(matches!(
            load(p, PersistentIds::None),
            Err(PickleError::Malformed { .. })
        ));
        assert!(load(b"", PersistentIds::None).is_err());
        assert!(load(b"(((((", PersistentIds::None).is_err());
    }
}
