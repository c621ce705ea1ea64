//! Decision thresholds of a flag head (irony, toxicity), per language.
//!
//! A flag head's probabilities are calibrated overall (temperature scaling), but the point where
//! "ironic" or "toxic" should win is not the same in every language: a head trained mostly on
//! English tweets flags ordinary French comments too readily. The threshold on the flag's
//! probability is chosen on validation rows, per language where there are enough of them (both
//! classes present, at least [`MIN_ROWS`] rows), else overall; it is stored in `head.json` and
//! applied by `stance classify` and `stance eval`, and written to `run.json`. Languages without
//! enough validation rows can take theirs from unlabelled text by flag-rate parity with a
//! validated language ([`Thresholds::fill_by_flag_rate_parity`], `stance calibrate --parity`).

use crate::metrics;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fewest validation rows of a language for a threshold of its own.
pub const MIN_ROWS: usize = 60;

/// The flag label's decision thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// The label that wins when its probability reaches the threshold (`toxic`, `ironic`).
    pub flag: String,
    /// For languages without a threshold of their own.
    pub default: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_lang: BTreeMap<String, f64>,
}

impl Thresholds {
    pub fn for_lang(&self, lang: Option<&str>) -> f64 {
        lang.and_then(|l| self.by_lang.get(l)).copied().unwrap_or(self.default)
    }

    /// The predicted class of a two-class row: the flag when its probability reaches the
    /// language's threshold, else the other class.
    pub fn decide(&self, labels: &[String], probs: &[f32], lang: Option<&str>) -> usize {
        match labels.iter().position(|l| *l == self.flag) {
            Some(flag) if labels.len() == 2 => {
                if f64::from(probs[flag]) >= self.for_lang(lang) {
                    flag
                } else {
                    1 - flag
                }
            }
            _ => metrics::argmax(probs),
        }
    }

    /// Chooses, on validation rows (`probs` in `labels` order, `gold` indices, `langs`), the
    /// threshold with the best macro-F1 overall and in each language with enough rows. With
    /// `max_fpr`, only thresholds that flag at most that share of the other class's rows are
    /// candidates (the lowest such threshold when none reaches it exactly is the highest tried).
    pub fn fit(
        labels: &[String],
        flag: &str,
        probs: &[Vec<f32>],
        gold: &[usize],
        langs: &[Option<String>],
        max_fpr: Option<f64>,
    ) -> Option<Thresholds> {
        let flag_index = labels.iter().position(|l| l == flag).filter(|_| labels.len() == 2)?;
        let all: Vec<usize> = (0..gold.len()).collect();
        let best_threshold = |rows: &[usize]| best_threshold(flag_index, probs, gold, rows, max_fpr);
        let default = best_threshold(&all)?;
        let by_lang = rows_by_lang(langs)
            .into_iter()
            .filter(|(_, rows)| rows.len() >= MIN_ROWS)
            .filter_map(|(lang, rows)| Some((lang.to_string(), best_threshold(&rows)?)))
            .collect();
        Some(Thresholds { flag: flag.to_string(), default, by_lang })
    }

    /// Thresholds for the languages that validation gave none of their own, from unlabelled
    /// rows of ordinary text (`flag_probs`: each row's probability of the flag, `langs` its
    /// language): each such language with at least [`MIN_ROWS`] rows gets the threshold that
    /// flags the same share of its rows as `reference`'s own threshold flags of `reference`'s
    /// rows, and never one below the overall threshold (parity only ever lowers a language's
    /// flag rate). Why: a flag head's probabilities drift with the language (irony's, trained
    /// mostly on English, flagged 70 % of ordinary Portuguese tweets at the overall threshold
    /// and 16 % of English ones at English's own), and labelled rows exist for a few languages
    /// only; parity assumes the flag is about as common in each language's ordinary text.
    /// With `cap_validated`, the other validated languages are held to that rate too: one whose
    /// own threshold flags more of its ordinary rows gets the parity threshold instead (never a
    /// lower one). Why: a few dozen validation rows of another register can choose a threshold
    /// that flags ordinary text far more often (irony's Spanish one, chosen on replies of which
    /// 28 % are ironic, flagged 43 % of ordinary Spanish tweets against English's 22 %).
    /// Returns the languages set, in language order; an error when `reference` has fewer than
    /// [`MIN_ROWS`] rows.
    pub fn fill_by_flag_rate_parity(
        &mut self,
        flag_probs: &[f32],
        langs: &[Option<String>],
        reference: &str,
        cap_validated: bool,
    ) -> Result<Vec<ParityThreshold>, String> {
        let groups: BTreeMap<&str, Vec<f32>> = rows_by_lang(langs)
            .into_iter()
            .map(|(lang, rows)| (lang, rows.into_iter().map(|i| flag_probs[i]).collect()))
            .collect();
        let share_at =
            |probs: &[f32], t: f64| probs.iter().filter(|&&p| f64::from(p) >= t).count() as f64 / probs.len() as f64;
        let target = match groups.get(reference) {
            Some(probs) if probs.len() >= MIN_ROWS => share_at(probs, self.for_lang(Some(reference))),
            other => {
                return Err(format!(
                    "{} rows in `{reference}`, the reference language of flag-rate parity; it needs {MIN_ROWS}",
                    other.map_or(0, Vec::len)
                ))
            }
        };
        let mut set = Vec::new();
        for (lang, mut probs) in groups {
            let validated = self.by_lang.contains_key(lang);
            if probs.len() < MIN_ROWS || lang == reference || (validated && !cap_validated) {
                continue;
            }
            // The threshold parity may only raise: the language's own, else the overall one.
            let floor = self.for_lang(Some(lang));
            probs.sort_by(|a, b| b.total_cmp(a));
            // Midway between the last row to flag and the first to leave, rounded to 0.001.
            let flagged = ((target * probs.len() as f64).round() as usize).min(probs.len());
            let above = if flagged == 0 { 1.0 } else { f64::from(probs[flagged - 1]) };
            let below = probs.get(flagged).map_or(0.0, |&p| f64::from(p));
            let threshold = (((above + below) / 2.0 * 1000.0).round() / 1000.0).max(floor);
            if validated && threshold == floor {
                continue;
            }
            let flagged_before = share_at(&probs, floor);
            self.by_lang.insert(lang.to_string(), threshold);
            set.push(ParityThreshold {
                lang: lang.to_string(),
                rows: probs.len(),
                threshold_before: floor,
                flagged_before,
                threshold,
            });
        }
        Ok(set)
    }
}

/// A threshold set by [`Thresholds::fill_by_flag_rate_parity`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParityThreshold {
    pub lang: String,
    /// Rows of the language among the unlabelled ones.
    pub rows: usize,
    /// The language's threshold before: its own, else the overall one.
    pub threshold_before: f64,
    /// Share of its rows flagged at `threshold_before`.
    pub flagged_before: f64,
    pub threshold: f64,
}

/// Row indices per language (rows without one are left out), in language order.
fn rows_by_lang(langs: &[Option<String>]) -> BTreeMap<&str, Vec<usize>> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, lang) in langs.iter().enumerate() {
        if let Some(lang) = lang {
            groups.entry(lang.as_str()).or_default().push(i);
        }
    }
    groups
}

impl std::fmt::Display for Thresholds {
    /// `p(toxic) ≥ 0.50 overall; fr 0.62, it 0.55`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p({}) ≥ {:.2} overall", self.flag, self.default)?;
        for (i, (lang, t)) in self.by_lang.iter().enumerate() {
            write!(f, "{}{lang} {t:.2}", if i == 0 { "; " } else { ", " })?;
        }
        Ok(())
    }
}

/// The threshold in 0.05…0.95 (steps of 0.01) with the best two-class macro-F1 on `rows`
/// among those whose false-positive rate is at most `max_fpr` (0.95 when none is); ties go to
/// the threshold nearest 0.5. `None` unless both classes occur.
fn best_threshold(flag: usize, probs: &[Vec<f32>], gold: &[usize], rows: &[usize], max_fpr: Option<f64>) -> Option<f64> {
    let positives = rows.iter().filter(|&&i| gold[i] == flag).count();
    if positives == 0 || positives == rows.len() {
        return None;
    }
    let mut best: Option<(f64, f64)> = None;
    for step in 5..=95 {
        let t = f64::from(step) / 100.0;
        let (mut tp, mut fp, mut fn_, mut tn) = (0f64, 0f64, 0f64, 0f64);
        for &i in rows {
            let predicted = f64::from(probs[i][flag]) >= t;
            match (gold[i] == flag, predicted) {
                (true, true) => tp += 1.0,
                (false, true) => fp += 1.0,
                (true, false) => fn_ += 1.0,
                (false, false) => tn += 1.0,
            }
        }
        if max_fpr.is_some_and(|max| fp / (fp + tn) > max) {
            continue;
        }
        let f1 = |tp: f64, fp: f64, fn_: f64| if tp > 0.0 { 2.0 * tp / (2.0 * tp + fp + fn_) } else { 0.0 };
        let macro_f1 = (f1(tp, fp, fn_) + f1(tn, fn_, fp)) / 2.0;
        let better = match best {
            None => true,
            Some((score, at)) => macro_f1 > score + 1e-12 || ((macro_f1 - score).abs() <= 1e-12 && (t - 0.5).abs() < (at - 0.5).abs()),
        };
        if better {
            best = Some((macro_f1, t));
        }
    }
    Some(best.map_or(0.95, |(_, t)| t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        vec!["non_toxic".into(), "toxic".into()]
    }

    #[test]
    fn each_language_gets_the_threshold_that_separates_its_rows() {
        // French non-toxic rows score high (0.60–0.64), French toxic rows higher (0.85–0.89):
        // a French threshold above 0.64; English rows (0.3 and 0.7) separate at 0.5.
        let mut probs = Vec::new();
        let mut gold = Vec::new();
        let mut langs = Vec::new();
        for i in 0..MIN_ROWS {
            let toxic = i % 2 == 0;
            let p = if toxic { 0.85 } else { 0.60 } + (i % 5) as f32 * 0.01;
            probs.push(vec![1.0 - p, p]);
            gold.push(usize::from(toxic));
            langs.push(Some("fr".to_string()));
            let p = if toxic { 0.7 } else { 0.3 };
            probs.push(vec![1.0 - p, p]);
            gold.push(usize::from(toxic));
            langs.push(Some("en".to_string()));
        }
        let t = Thresholds::fit(&labels(), "toxic", &probs, &gold, &langs, None).unwrap();
        let fr = t.by_lang["fr"];
        assert!(fr > 0.645 && fr <= 0.85, "{t:?}");
        assert!(t.by_lang["en"] > 0.3 && t.by_lang["en"] <= 0.7, "{t:?}");
        assert_eq!(t.decide(&labels(), &[0.36, 0.64], Some("fr")), 0);
        assert_eq!(t.decide(&labels(), &[0.36, 0.64], Some("en")), 1);
        // A language without its own threshold falls back to the overall one.
        assert_eq!(t.for_lang(Some("de")), t.default);
    }

    #[test]
    fn parity_gives_unvalidated_languages_the_reference_languages_flag_rate() {
        // English (validated, 0.6) flags 25 % of its ordinary rows; Portuguese rows score
        // higher across the board, Italian lower; German (validated) and Hindi (few rows) keep
        // what they have.
        let mut t = Thresholds {
            flag: "toxic".into(),
            default: 0.5,
            by_lang: BTreeMap::from([("en".to_string(), 0.6), ("de".to_string(), 0.9)]),
        };
        let (mut probs, mut langs) = (Vec::new(), Vec::new());
        for i in 0..100 {
            let rows = [("en", 0.451 + 0.002 * i as f32), ("pt", 0.3 + 0.006 * i as f32), ("it", 0.1 + 0.002 * i as f32)];
            for (lang, p) in rows {
                probs.push(p);
                langs.push(Some(lang.to_string()));
            }
            probs.push(0.5);
            langs.push(Some("de".to_string()));
            if i < MIN_ROWS / 2 {
                probs.push(0.99);
                langs.push(Some("hi".to_string()));
            }
        }
        let en_share = (0..100).filter(|i| 0.451 + 0.002 * *i as f32 >= 0.6).count();
        assert_eq!(en_share, 25, "the reference flags 25 of its 100 rows");
        let set = t.fill_by_flag_rate_parity(&probs, &langs, "en", false).unwrap();
        assert_eq!(set.iter().map(|p| p.lang.as_str()).collect::<Vec<_>>(), ["it", "pt"]);
        let pt = t.by_lang["pt"];
        let flagged = (0..100).filter(|i| f64::from(0.3 + 0.006 * *i as f32) >= pt).count();
        assert_eq!(flagged, 25, "pt at {pt}");
        assert!((set[1].flagged_before - 0.67).abs() < 0.015, "{set:?}");
        // Italian flags none of its rows at the overall threshold: parity would lower it, so it
        // stays there; German and Hindi are left alone.
        assert_eq!(t.by_lang["it"], 0.5);
        assert_eq!(t.by_lang["de"], 0.9);
        assert!(!t.by_lang.contains_key("hi"));
        assert!(t.fill_by_flag_rate_parity(&probs, &langs, "es", false).unwrap_err().contains("0 rows in `es`"));
    }

    #[test]
    fn capping_validated_languages_only_ever_raises_their_thresholds() {
        // English (0.6) flags 25 % of its ordinary rows. Spanish's validated 0.3 flags all of
        // its rows (0.3…0.894): raised to flag 25 %. German's 0.9 flags none: left alone, as is
        // Arabic's, which flags fewer than English's share. Without the cap, nothing moves.
        let validated = BTreeMap::from([
            ("en".to_string(), 0.6),
            ("es".to_string(), 0.3),
            ("de".to_string(), 0.9),
            ("ar".to_string(), 0.5),
        ]);
        let mut t = Thresholds { flag: "ironic".into(), default: 0.55, by_lang: validated.clone() };
        let (mut probs, mut langs) = (Vec::new(), Vec::new());
        for i in 0..100 {
            let x = i as f32;
            for (lang, p) in [("en", 0.451 + 0.002 * x), ("es", 0.3 + 0.006 * x), ("de", 0.5), ("ar", 0.1 + 0.005 * x)] {
                probs.push(p);
                langs.push(Some(lang.to_string()));
            }
        }
        assert!(t.fill_by_flag_rate_parity(&probs, &langs, "en", false).unwrap().is_empty());
        assert_eq!(t.by_lang, validated);
        let set = t.fill_by_flag_rate_parity(&probs, &langs, "en", true).unwrap();
        assert_eq!(set.len(), 1, "{set:?}");
        assert_eq!((set[0].lang.as_str(), set[0].threshold_before, set[0].flagged_before), ("es", 0.3, 1.0));
        let es = t.by_lang["es"];
        assert_eq!((0..100).filter(|i| f64::from(0.3 + 0.006 * *i as f32) >= es).count(), 25, "es at {es}");
        for lang in ["en", "de", "ar"] {
            assert_eq!(t.by_lang[lang], validated[lang], "{lang}");
        }
    }

    #[test]
    fn languages_with_few_rows_or_one_class_get_none_of_their_own() {
        let probs = vec![vec![0.4, 0.6]; MIN_ROWS];
        let gold = vec![1; MIN_ROWS];
        let langs = vec![Some("it".to_string()); MIN_ROWS];
        assert!(Thresholds::fit(&labels(), "toxic", &probs, &gold, &langs, None).is_none());
        assert!(Thresholds::fit(&labels(), "absent", &probs, &gold, &langs, None).is_none());
    }

    #[test]
    fn a_false_positive_bound_raises_the_threshold_past_the_negatives_it_would_flag() {
        // Overlapping classes: negatives at 0.2…0.69, positives at 0.4…0.89 (one row per 0.01).
        // Best macro-F1 alone sits in the overlap; at most 10 % false positives needs about 0.65.
        let mut probs = Vec::new();
        let mut gold = Vec::new();
        for i in 0..50 {
            for (offset, label) in [(0.2, 0usize), (0.4, 1)] {
                let p = offset + i as f32 * 0.01;
                probs.push(vec![1.0 - p, p]);
                gold.push(label);
            }
        }
        let langs = vec![None; gold.len()];
        let free = Thresholds::fit(&labels(), "toxic", &probs, &gold, &langs, None).unwrap().default;
        let bounded = Thresholds::fit(&labels(), "toxic", &probs, &gold, &langs, Some(0.1)).unwrap().default;
        assert!(free < 0.65, "{free}");
        assert!((0.635..=0.66).contains(&bounded), "{bounded}");
        let flagged = probs.iter().zip(&gold).filter(|(p, &g)| g == 0 && f64::from(p[1]) >= bounded).count();
        assert!(flagged <= 5, "{flagged} of 50 negatives flagged");
    }
}
