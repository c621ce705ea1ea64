//! The settings of a training run, kept apart from the trainer so that a head's record
//! (`head.rs`) can name them without depending on the training code.

use crate::error::{HeadsError, Result};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Hidden layer widths; empty trains a linear (softmax-regression) head.
    pub hidden: Vec<usize>,
    /// Dropout on the hidden layers.
    pub dropout: f32,
    /// Dropout on the (standardised) input features.
    pub input_dropout: f32,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// The first member's seed; member `m` of a several-MLP head starts from `seed + m`.
    pub seed: u64,
    pub balance: Balance,
    /// MLPs trained alike from consecutive seeds, their logits averaged (see `crate::head`).
    #[serde(default = "one_member", skip_serializing_if = "is_one_member")]
    pub members: usize,
}

pub(crate) fn one_member() -> usize {
    1
}

pub(crate) fn is_one_member(n: &usize) -> bool {
    *n == 1
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            // Chosen on the UMSAB valid split (macro-F1 60.5 with 256 wide, dropout 0.3, lr
            // 1e-3; 61.9 with these): frozen vectors overfit fast, so a wide layer held back
            // by heavy dropout and a slow learning rate generalises best.
            hidden: vec![1024],
            dropout: 0.6,
            input_dropout: 0.3,
            learning_rate: 3e-4,
            weight_decay: 5e-2,
            batch_size: 64,
            max_epochs: 40,
            patience: 6,
            seed: 13,
            balance: Balance::Auto,
            members: 1,
        }
    }
}

impl TrainConfig {
    /// Fewest optimizer updates the default epoch budget allows, and fewest the patience waits.
    const MIN_STEPS: usize = 1500;
    const MIN_PATIENCE_STEPS: usize = 150;

    /// The defaults for a training set of `n_train` rows. The slow default learning rate needs
    /// updates, not epochs: 40 epochs of 120 comments are only 80 steps, which leaves a head
    /// close to its random start (macro-F1 27 on 3 classes in a 120-comment test, 68 with
    /// this budget). So on small sets `max_epochs` and `patience` grow to give at least
    /// 1,500 updates and a 150-update wait; from about 2,400 rows on they are the plain defaults.
    pub fn for_rows(n_train: usize) -> Self {
        let base = TrainConfig::default();
        let steps_per_epoch = n_train.div_ceil(base.batch_size).max(1);
        TrainConfig {
            max_epochs: base.max_epochs.max(Self::MIN_STEPS.div_ceil(steps_per_epoch)),
            patience: base.patience.max(Self::MIN_PATIENCE_STEPS.div_ceil(steps_per_epoch)),
            ..base
        }
    }
}

/// Class weighting of the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Weight classes by inverse frequency when the largest is over 1.5× the smallest.
    Auto,
    On,
    Off,
    /// Inverse frequency within each training file: every file's classes weigh the same in
    /// its share of the loss. For mixes where one file's label skew would otherwise be learnt
    /// as a property of its language or style (MLMA, the only French toxicity file, is 80 %
    /// toxic: weighted over all rows or not at all, the head learnt "French is toxic").
    #[serde(rename = "per-source")]
    PerSource,
}

impl std::str::FromStr for Balance {
    type Err = HeadsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Balance::Auto),
            "on" => Ok(Balance::On),
            "off" => Ok(Balance::Off),
            "per-source" => Ok(Balance::PerSource),
            _ => Err(HeadsError::Invalid(format!(
                "balance `{s}`: expected auto, on, off or per-source"
            ))),
        }
    }
}

