//! Zero-shot stance with an NLI model (`--stance-model`): instead of the stance head, each
//! comment is scored against three hypotheses built from its article's target, in its own
//! language, the way `transformers`' zero-shot pipeline scores candidate labels (the maths is
//! `stance_model::zero_shot`, tested against that pipeline).

use crate::error::{ClassifyError, Result};
use serde::{Deserialize, Serialize};
use stance_model::batch::BatchOptions;
use stance_model::runtime::TextModel;
use stance_model::zero_shot::ZeroShotOptions;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The stance labels, in the order of [`Template::candidates`].
pub const LABELS: [&str; 3] = ["favor", "against", "none"];

/// How one language phrases the hypotheses: `hypothesis` has `{}` where a candidate goes, and
/// each candidate has `{target}` where the article's target goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub hypothesis: String,
    pub favor: String,
    pub against: String,
    pub none: String,
}

impl Template {
    fn new(hypothesis: &str, favor: &str, against: &str, none: &str) -> Self {
        Template { hypothesis: hypothesis.into(), favor: favor.into(), against: against.into(), none: none.into() }
    }

    /// The candidate labels for `target`, in [`LABELS`] order.
    pub fn candidates(&self, target: &str) -> Vec<String> {
        [&self.favor, &self.against, &self.none].iter().map(|c| c.replace("{target}", target)).collect()
    }
}

/// Templates by language code, with English for languages without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Templates(pub BTreeMap<String, Template>);

impl Default for Templates {
    fn default() -> Self {
        let t = Template::new;
        Templates(BTreeMap::from([
            ("en".into(), t("This comment is {}.", "in favor of {target}", "against {target}", "neutral about {target}")),
            ("fr".into(), t("Ce commentaire est {}.", "favorable à {target}", "opposé à {target}", "neutre sur {target}")),
            ("de".into(), t("Dieser Kommentar ist {}.", "für {target}", "gegen {target}", "neutral zu {target}")),
            ("es".into(), t("Este comentario está {}.", "a favor de {target}", "en contra de {target}", "neutral sobre {target}")),
            ("it".into(), t("Questo commento è {}.", "a favore di {target}", "contrario a {target}", "neutrale su {target}")),
            ("ca".into(), t("Aquest comentari està {}.", "a favor de {target}", "en contra de {target}", "neutral sobre {target}")),
            ("pt".into(), t("Este comentário é {}.", "a favor de {target}", "contra {target}", "neutro sobre {target}")),
        ]))
    }
}

impl Templates {
    /// Reads a JSON object `{"fr": {"hypothesis": …, "favor": …, "against": …, "none": …}, …}`;
    /// its languages replace or add to the defaults.
    pub fn with_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(ClassifyError::io(path))?;
        let given: BTreeMap<String, Template> = serde_json::from_str(&text)
            .map_err(|e| ClassifyError::Invalid(format!("{}: {e}", path.display())))?;
        let mut templates = Templates::default();
        for (lang, template) in given {
            for (name, text) in [("hypothesis", &template.hypothesis)] {
                if !text.contains("{}") {
                    return Err(ClassifyError::Invalid(format!("{}: {lang}.{name} has no `{{}}`", path.display())));
                }
            }
            templates.0.insert(lang, template);
        }
        Ok(templates)
    }

    pub fn for_lang(&self, lang: Option<&str>) -> &Template {
        lang.and_then(|l| self.0.get(l)).or_else(|| self.0.get("en")).expect("English is always present")
    }
}

/// An NLI model scoring stance.
pub struct ZeroShotStance<'a> {
    pub model: &'a TextModel,
    pub templates: Templates,
    pub multi_label: bool,
    pub batch: BatchOptions,
}

impl ZeroShotStance<'_> {
    /// Probabilities in [`LABELS`] order for each `(text, target, lang)`. Comments are grouped
    /// by target and language so that each group shares its candidate labels.
    pub fn score(&self, rows: &[(&str, &str, Option<&str>)]) -> Result<Vec<Vec<f32>>> {
        let mut groups: HashMap<(&str, Option<&str>), Vec<usize>> = HashMap::new();
        for (i, (_, target, lang)) in rows.iter().enumerate() {
            let lang = lang.filter(|l| self.templates.0.contains_key(*l));
            groups.entry((target, lang)).or_default().push(i);
        }
        let mut keys: Vec<_> = groups.keys().copied().collect();
        keys.sort_unstable();
        let mut out = vec![Vec::new(); rows.len()];
        for key in keys {
            let members = &groups[&key];
            let template = self.templates.for_lang(key.1);
            let options = ZeroShotOptions {
                template: template.hypothesis.clone(),
                multi_label: self.multi_label,
                batch: self.batch,
            };
            let texts: Vec<&str> = members.iter().map(|&i| rows[i].0).collect();
            let results = self
                .model
                .zero_shot(&texts, &template.candidates(key.0), &options, &|_| {})
                .map_err(|e| ClassifyError::Head { task: "stance (zero-shot)".into(), message: e.to_string() })?;
            for (&i, r) in members.iter().zip(results) {
                out[i] = r.candidates.iter().map(|c| c.score).collect();
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_carry_the_target_and_unknown_languages_fall_back_to_english() {
        let t = Templates::default();
        assert_eq!(t.for_lang(Some("fr")).candidates("Telegram")[1], "opposé à Telegram");
        assert_eq!(t.for_lang(Some("xx")).hypothesis, "This comment is {}.");
        assert_eq!(t.for_lang(None).candidates("X"), ["in favor of X", "against X", "neutral about X"]);
    }

    #[test]
    fn a_templates_file_adds_languages_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, r#"{"nl": {"hypothesis": "Deze reactie is {}.", "favor": "voor {target}", "against": "tegen {target}", "none": "neutraal over {target}"}}"#).unwrap();
        let t = Templates::with_file(&path).unwrap();
        assert_eq!(t.for_lang(Some("nl")).candidates("X")[0], "voor X");
        assert!(t.0.contains_key("fr"));
        std::fs::write(&path, r#"{"nl": {"hypothesis": "no slot", "favor": "a", "against": "b", "none": "c"}}"#).unwrap();
        assert!(Templates::with_file(&path).is_err());
    }
}
