//! Where a model's tensors live: three candle `VarMap`s — trainable
//! weights (convolutions, linear layers, heads and the shared BN of HPS),
//! task-specific norm parameters (the gates, which get the α
//! learning-rate multiplier and no weight decay, paper §4 and §7.1), and
//! non-trainable buffers (running statistics). [`Vars`] walks them together
//! with `VarBuilder::pp`, so every tensor name is built as a path in one
//! place and the same name addresses a tensor in the model and in the
//! checkpoint.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::{Init, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The three parameter groups of a model.
#[derive(Clone)]
pub struct ParamStore {
    pub weights: VarMap,
    pub gates: VarMap,
    pub buffers: VarMap,
    pub dtype: DType,
    pub device: Device,
}

/// Which map a tensor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamGroupKind {
    Weights,
    Gates,
    Buffers,
}

impl ParamStore {
    pub fn new(dtype: DType, device: Device) -> Self {
        ParamStore {
            weights: VarMap::new(),
            gates: VarMap::new(),
            buffers: VarMap::new(),
            dtype,
            device,
        }
    }

    fn map(&self, kind: ParamGroupKind) -> &VarMap {
        match kind {
            ParamGroupKind::Weights => &self.weights,
            ParamGroupKind::Gates => &self.gates,
            ParamGroupKind::Buffers => &self.buffers,
        }
    }

    /// The variables of one group sorted by name (a `VarMap` is a hash map;
    /// sorting keeps optimiser state and checkpoints deterministic).
    pub fn sorted(&self, kind: ParamGroupKind) -> Vec<(String, Var)> {
        let data = match self.map(kind).data().lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        let sorted: BTreeMap<String, Var> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        sorted.into_iter().collect()
    }

    /// Every tensor of the model with its group, sorted by name.
    pub fn all(&self) -> Vec<(String, ParamGroupKind, Var)> {
        let mut out = Vec::new();
        for kind in [
            ParamGroupKind::Weights,
            ParamGroupKind::Gates,
            ParamGroupKind::Buffers,
        ] {
            for (name, var) in self.sorted(kind) {
                out.push((name, kind, var));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn var(&self, kind: ParamGroupKind, path: &str) -> Result<Var> {
        let data = match self.map(kind).data().lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        data.get(path)
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("variable '{path}' was not created")))
    }

    /// A [`Vars`] at the root path, initialising weights from `seed`.
    pub fn builder(&self, seed: u64) -> Vars<'_> {
        Vars {
            store: self,
            weights: VarBuilder::from_varmap(&self.weights, self.dtype, &self.device),
            gates: VarBuilder::from_varmap(&self.gates, self.dtype, &self.device),
            buffers: VarBuilder::from_varmap(&self.buffers, self.dtype, &self.device),
            rng: Rc::new(RefCell::new(Xoshiro256PlusPlus::seed_from_u64(seed))),
        }
    }
}

/// Three `VarBuilder`s moved through the model together, plus the seeded
/// generator for weight initialisation (candle's CPU generator cannot be
/// seeded, so `Init::Uniform` would make runs irreproducible).
pub struct Vars<'a> {
    store: &'a ParamStore,
    weights: VarBuilder<'static>,
    gates: VarBuilder<'static>,
    buffers: VarBuilder<'static>,
    rng: Rc<RefCell<Xoshiro256PlusPlus>>,
}

impl Vars<'_> {
    /// Descends into the sub-path `s` (candle's `VarBuilder::pp`).
    pub fn pp<S: ToString>(&self, s: S) -> Self {
        let s = s.to_string();
        Vars {
            store: self.store,
            weights: self.weights.pp(&s),
            gates: self.gates.pp(&s),
            buffers: self.buffers.pp(&s),
            rng: Rc::clone(&self.rng),
        }
    }

    /// The current path, e.g. `features.3.norm`.
    pub fn prefix(&self) -> String {
        self.weights.prefix()
    }

    fn path(&self, name: &str) -> String {
        let prefix = self.prefix();
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    }

    pub fn device(&self) -> &Device {
        &self.store.device
    }

    pub fn dtype(&self) -> DType {
        self.store.dtype
    }

    /// A trainable weight drawn from U(−bound, bound) with the seeded
    /// generator (PyTorch's default for conv and linear layers uses
    /// bound = 1/√fan_in); `bound = 0` gives zeros.
    pub fn weight<S: Into<Shape>>(&self, name: &str, shape: S, bound: f64) -> Result<Tensor> {
        let shape: Shape = shape.into();
        let t = self
            .weights
            .get_with_hints(shape.clone(), name, Init::Const(0.0))?;
        let values: Vec<f32> = {
            let mut rng = self.rng.borrow_mut();
            (0..shape.elem_count())
                .map(|_| {
                    if bound > 0.0 {
                        rng.gen_range(-bound..bound) as f32
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let init = Tensor::from_vec(values, shape, self.device())?.to_dtype(self.dtype())?;
        self.store
            .var(ParamGroupKind::Weights, &self.path(name))?
            .set(&init)?;
        Ok(t)
    }

    /// Replaces the trainable weight `name` (made by [`weight`](Self::weight))
    /// with a new variable holding `value`, which may have another shape.
    pub fn replace_weight(&self, name: &str, value: &Tensor) -> Result<Tensor> {
        let path = self.path(name);
        let var = Var::from_tensor(&value.detach())?;
        let t = var.as_tensor().clone();
        let mut data = match self.store.weights.data().lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        data.insert(path, var);
        Ok(t)
    }

    /// An ordinary trainable parameter filled with `value` (the affine
    /// weight and bias of a shared BN): in the weight group, so at the base
    /// learning rate and weight-decayed, as PyTorch users train HPS. Draws
    /// nothing from the seeded generator.
    pub fn constant_weight<S: Into<Shape>>(
        &self,
        name: &str,
        shape: S,
        value: f64,
    ) -> Result<Tensor> {
        self.weights.get_with_hints(shape, name, Init::Const(value))
    }

    /// A task-specific norm parameter filled with `value`.
    pub fn gate<S: Into<Shape>>(&self, name: &str, shape: S, value: f64) -> Result<Tensor> {
        self.gates.get_with_hints(shape, name, Init::Const(value))
    }

    /// A non-trainable buffer filled with `value`, returned as the `Var`
    /// the layer updates in place.
    pub fn buffer<S: Into<Shape>>(&self, name: &str, shape: S, value: f64) -> Result<Var> {
        self.buffers
            .get_with_hints(shape, name, Init::Const(value))?;
        self.store.var(ParamGroupKind::Buffers, &self.path(name))
    }
}
