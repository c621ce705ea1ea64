//! AdamW with its state exposed, so a checkpoint can save and restore it (candle's own
//! `AdamW` keeps its moments private).

use crate::error::{Result, TuneError};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Gradients are scaled so that their global L2 norm is at most this (0: no clipping).
    pub clip_norm: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, clip_norm: 1.0 }
    }
}

/// One parameter under optimisation.
struct Slot {
    var: Var,
    m: Tensor,
    v: Tensor,
    /// Learning-rate group: 0 = encoder layers, 1 = new parameters (segment, classifier).
    group: usize,
    decay: bool,
}

pub struct AdamW {
    slots: BTreeMap<String, Slot>,
    pub config: AdamWConfig,
    pub step: usize,
}

impl AdamW {
    /// `group_of(name)` picks a parameter's learning-rate group; weight decay applies to
    /// matrices of the encoder layers and the classifier (not biases, LayerNorms, segment).
    pub fn new(vars: &BTreeMap<String, Var>, config: AdamWConfig, group_of: impl Fn(&str) -> usize) -> Result<Self> {
        let mut slots = BTreeMap::new();
        for (name, var) in vars {
            let decay = var.rank() == 2 && name != "segment.weight";
            slots.insert(
                name.clone(),
                Slot {
                    var: var.clone(),
                    m: var.as_tensor().zeros_like()?,
                    v: var.as_tensor().zeros_like()?,
                    group: group_of(name),
                    decay,
                },
            );
        }
        Ok(AdamW { slots, config, step: 0 })
    }

    /// One update with learning rates `lrs[group]`; returns the gradients' global norm before
    /// clipping. Every parameter must have a gradient.
    pub fn step(&mut self, grads: &GradStore, lrs: &[f64]) -> Result<f64> {
        self.step_where_reached(grads, lrs, |_| false)
    }

    /// [`Self::step`], except that a parameter for which `may_lack(name)` holds and no gradient
    /// came is left as it is, moments included (a task's classifier in a multi-task batch
    /// without that task's rows).
    pub fn step_where_reached(&mut self, grads: &GradStore, lrs: &[f64], may_lack: impl Fn(&str) -> bool) -> Result<f64> {
        let mut sq = 0f64;
        let mut gs = Vec::with_capacity(self.slots.len());
        for (name, slot) in &self.slots {
            let g = match grads.get(slot.var.as_tensor()) {
                Some(g) => g,
                None if may_lack(name) => {
                    gs.push(None);
                    continue;
                }
                None => return Err(TuneError::Invalid(format!("no gradient reached `{name}`"))),
            };
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            gs.push(Some(g.clone()));
        }
        let norm = sq.sqrt();
        let scale = if self.config.clip_norm > 0.0 && norm > self.config.clip_norm {
            self.config.clip_norm / norm
        } else {
            1.0
        };
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        for (slot, g) in self.slots.values_mut().zip(gs) {
            let Some(g) = g else { continue };
            let g = (g * scale)?;
            slot.m = ((&slot.m * c.beta1)? + (&g * (1.0 - c.beta1))?)?.detach();
            slot.v = ((&slot.v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?.detach();
            let lr = lrs[slot.group];
            let update = ((&slot.m / bc1)? / ((&slot.v / bc2)?.sqrt()? + c.eps)?)?;
            let theta = slot.var.as_tensor();
            let decayed = if slot.decay { (theta * (1.0 - lr * c.weight_decay))? } else { theta.clone() };
            let new = (decayed - (update * lr)?)?.detach();
            slot.var.set(&new)?;
        }
        Ok(norm)
    }

    /// Saves the moments (`m.<name>`, `v.<name>`) and the step count.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = HashMap::new();
        for (name, slot) in &self.slots {
            tensors.insert(format!("m.{name}"), slot.m.clone());
            tensors.insert(format!("v.{name}"), slot.v.clone());
        }
        tensors.insert("step".into(), Tensor::new(&[self.step as u32], &Device::Cpu)?);
        let tmp = path.with_extension("tmp");
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| TuneError::io(path, e))
    }

    /// Restores what [`Self::save`] wrote.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)?;
        for (name, slot) in self.slots.iter_mut() {
            let get = |k: String| {
                tensors
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| TuneError::Invalid(format!("{}: no `{k}`", path.display())))
            };
            slot.m = get(format!("m.{name}"))?;
            slot.v = get(format!("v.{name}"))?;
        }
        self.step = tensors
            .get("step")
            .ok_or_else(|| TuneError::Invalid(format!("{}: no step", path.display())))?
            .to_vec1::<u32>()?[0] as usize;
        Ok(())
    }
}
