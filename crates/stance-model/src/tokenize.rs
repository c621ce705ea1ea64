//! Text → token ids with the model's own `tokenizer.json`, its prefix and its length limit.
//!
//! Special tokens come from the tokenizer's post-processor (`[CLS] A [SEP]`, `<s> A </s>`,
//! pair templates), so no model-specific rule lives here. A text longer than the limit is
//! either cut ([`Truncation::Head`], [`Truncation::Tail`], [`Truncation::HeadTail`]) or split
//! into overlapping windows ([`Truncation::Window`]) that together cover all of it. A prefix
//! (e5's `query: `) is kept at the start of every cut or window, since the model was trained
//! to see it there.

use crate::error::ModelError;
use std::path::{Path, PathBuf};
use crate::unigram::VocabModel;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::tokenizer::{Encoding, TokenizerImpl};
use tokenizers::utils::truncation::{truncate_encodings, TruncationDirection, TruncationParams};
use tokenizers::PostProcessor;

pub use tokenizers::utils::truncation::TruncationStrategy;

/// What to do with a text longer than the model's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Keep the beginning (what Hugging Face does by default).
    #[default]
    Head,
    /// Keep the end.
    Tail,
    /// Keep about a quarter of the budget from the beginning and the rest from the end, after
    /// Sun et al. (2019), "How to fine-tune BERT for text classification" (128 + 382 of 510).
    HeadTail,
    /// Cover the whole text with windows overlapping by a quarter of the budget; the model's
    /// outputs over the windows are pooled by the caller.
    Window,
}

impl std::str::FromStr for Truncation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "head" => Ok(Truncation::Head),
            "tail" => Ok(Truncation::Tail),
            "head-tail" => Ok(Truncation::HeadTail),
            "window" => Ok(Truncation::Window),
            other => Err(format!(
                "unknown truncation `{other}` (head, tail, head-tail or window)"
            )),
        }
    }
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Truncation::Head => "head",
            Truncation::Tail => "tail",
            Truncation::HeadTail => "head-tail",
            Truncation::Window => "window",
        })
    }
}

/// One sequence as the model sees it, special tokens included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

/// One input: a single segment, or several windows (then the content tokens each window adds
/// are its weight when pooling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub segments: Vec<Segment>,
    /// Tokens of the input the model saw, special tokens counted once: the cut length when
    /// truncated, the whole length otherwise (windows included).
    pub n_tokens: usize,
    /// Whether tokens were dropped.
    pub truncated: bool,
}

/// `tokenizers`' pipeline around the model of [`VocabModel`] (compact Unigram vocabularies).
type Pipeline = TokenizerImpl<VocabModel, NormalizerWrapper, PreTokenizerWrapper, PostProcessorWrapper, DecoderWrapper>;

/// A `tokenizer.json` with truncation and padding switched off (both are done here).
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Pipeline,
    path: PathBuf,
    max_tokens: usize,
    added_single: usize,
    added_pair: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; `max_tokens` counts special tokens.
    pub fn from_file(path: &Path, max_tokens: usize) -> Result<Self, ModelError> {
        let file_error = |message: String| ModelError::File {
            path: path.to_path_buf(),
            message,
        };
        let json = std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read tokenizer: {e}")))?;
        let mut inner: Pipeline =
            serde_json::from_str(&json).map_err(|e| file_error(format!("cannot load tokenizer: {e}")))?;
        inner
            .with_truncation(None)
            .map_err(|e| file_error(e.to_string()))?;
        inner.with_padding(None);
        let (added_single, added_pair) = inner
            .get_post_processor()
            .map(|p| (p.added_tokens(false), p.added_tokens(true)))
            .unwrap_or((0, 0));
        if max_tokens <= added_pair.max(added_single) {
            return Err(file_error(format!(
                "a limit of {max_tokens} tokens leaves no room for text beside the {} special tokens",
                added_pair.max(added_single)
            )));
        }
        Ok(TextTokenizer {
            inner,
            path: path.to_path_buf(),
            max_tokens,
            added_single,
            added_pair,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Pieces in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string (special tokens included), if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// One more than the highest id this tokenizer can produce: the embedding matrix needs at
    /// least this many rows.
    pub fn id_bound(&self) -> u32 {
        let added = self.inner.get_added_tokens_decoder().into_keys().max();
        match (self.inner.get_model().id_bound(), added) {
            (model, Some(id)) => model.max(id + 1),
            (model, None) => model,
        }
    }

    fn error(&self, message: String) -> ModelError {
        ModelError::File {
            path: self.path.clone(),
            message,
        }
    }

    fn raw(&self, text: &str) -> Result<Encoding, ModelError> {
        self.inner
            .encode(text, false)
            .map_err(|e| self.error(format!("cannot tokenize: {e}")))
    }

    fn finish(&self, first: Encoding, pair: Option<Encoding>) -> Result<Segment, ModelError> {
        let enc = self
            .inner
            .post_process(first, pair, true)
            .map_err(|e| self.error(format!("cannot add special tokens: {e}")))?;
        Ok(Segment {
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().to_vec(),
        })
    }

    /// Tokenizes `prefix + text` (the prefix is tokenized with the text, as e5 was trained).
    pub fn encode(
        &self,
        text: &str,
        prefix: &str,
        truncation: Truncation,
    ) -> Result<Encoded, ModelError> {
        let full = format!("{prefix}{text}");
        let enc = self.raw(&full)?;
        let n_content = enc.len();
        let n_tokens = n_content + self.added_single;
        let budget = self.max_tokens - self.added_single;
        if n_content <= budget {
            let segment = self.finish(enc, None)?;
            return Ok(Encoded {
                segments: vec![segment],
                n_tokens,
                truncated: false,
            });
        }
        // Tokens that lie inside the prefix's bytes stay at the start of every piece.
        let n_prefix = enc
            .get_offsets()
            .iter()
            .take_while(|(_, end)| *end <= prefix.len())
            .count();
        let body_budget = budget.saturating_sub(n_prefix);
        // A prefix that fills the whole budget leaves nothing to choose: keep the head.
        let truncation = if body_budget == 0 {
            Truncation::Head
        } else {
            truncation
        };
        let prefix_part = take(&enc, 0, n_prefix);
        let body = take(&enc, n_prefix, n_content);
        let n_body = body.len();
        let with_prefix = |part: Encoding| Encoding::merge([prefix_part.clone(), part], false);
        let cut = |parts: Vec<Encoding>| -> Result<Encoded, ModelError> {
            let segment = self.finish(
                Encoding::merge(std::iter::once(prefix_part.clone()).chain(parts), false),
                None,
            )?;
            Ok(Encoded {
                segments: vec![segment],
                n_tokens: self.max_tokens,
                truncated: true,
            })
        };
        match truncation {
            Truncation::Head => {
                let segment = self.finish(take(&enc, 0, budget), None)?;
                Ok(Encoded {
                    segments: vec![segment],
                    n_tokens: self.max_tokens,
                    truncated: true,
                })
            }
            Truncation::Tail => cut(vec![take(&body, n_body - body_budget, n_body)]),
            Truncation::HeadTail => {
                let head = body_budget / 4;
                let tail = body_budget - head;
                cut(vec![
                    take(&body, 0, head),
                    take(&body, n_body - tail, n_body),
                ])
            }
            Truncation::Window => {
                let overlap = body_budget / 4;
                let mut first = body;
                first.truncate(body_budget, overlap, TruncationDirection::Right);
                let rest = first.take_overflowing();
                let segments = std::iter::once(first)
                    .chain(rest)
                    .map(|window| self.finish(with_prefix(window), None))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Encoded {
                    segments,
                    n_tokens,
                    truncated: false,
                })
            }
        }
    }

    /// Tokenizes a text pair (`[CLS] A [SEP] B [SEP]` or the model's own template), cutting
    /// as `strategy` says; only [`Truncation::Head`] and [`Truncation::Tail`] apply to pairs.
    pub fn encode_pair(
        &self,
        first: &str,
        second: &str,
        strategy: TruncationStrategy,
        truncation: Truncation,
    ) -> Result<Encoded, ModelError> {
        let direction = match truncation {
            Truncation::Head => TruncationDirection::Right,
            Truncation::Tail => TruncationDirection::Left,
            other => {
                return Err(ModelError::InvalidRequest(format!(
                    "truncation `{other}` does not apply to text pairs (use head or tail)"
                )))
            }
        };
        let (a, b) = (self.raw(first)?, self.raw(second)?);
        let n_tokens = a.len() + b.len() + self.added_pair;
        let params = TruncationParams {
            max_length: self.max_tokens - self.added_pair,
            strategy,
            stride: 0,
            direction,
        };
        let (mut a, b) = truncate_encodings(a, Some(b), &params).map_err(|e| {
            ModelError::InvalidRequest(format!(
                "cannot fit the pair into {} tokens with `{}` truncation: {e}",
                self.max_tokens,
                strategy.as_ref()
            ))
        })?;
        let mut b = b.unwrap_or_default();
        a.take_overflowing();
        b.take_overflowing();
        let segment = self.finish(a, Some(b))?;
        let truncated = segment.ids.len() < n_tokens;
        Ok(Encoded {
            n_tokens: segment.ids.len(),
            segments: vec![segment],
            truncated,
        })
    }
}

/// Tokens `start..end` of an encoding, as a new encoding without overflow.
fn take(enc: &Encoding, start: usize, end: usize) -> Encoding {
    let mut part = enc.clone();
    part.take_overflowing();
    let len = part.len();
    part.truncate(len - start, 0, TruncationDirection::Left);
    part.take_overflowing();
    part.truncate(end - start, 0, TruncationDirection::Right);
    part.take_overflowing();
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_bert() -> TextTokenizer {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/parity/tiny/bert/tokenizer.json");
        TextTokenizer::from_file(&path, 16).unwrap()
    }

    /// The content ids of `text` (no specials), for building expectations.
    fn content(tok: &TextTokenizer, text: &str) -> Vec<u32> {
        tok.raw(text).unwrap().get_ids().to_vec()
    }

    const LONG: &str = "one two three four five six seven eight nine ten eleven twelve thirteen \
                        fourteen fifteen sixteen seventeen eighteen nineteen twenty";

    #[test]
    fn short_text_is_one_untruncated_segment_with_specials() {
        let tok = tiny_bert();
        let e = tok.encode("Great!", "", Truncation::Head).unwrap();
        assert_eq!(e.segments.len(), 1);
        assert_eq!(e.segments[0].ids, vec![2, 1869, 5, 3]);
        assert_eq!(e.segments[0].type_ids, vec![0; 4]);
        assert_eq!((e.n_tokens, e.truncated), (4, false));
    }

    #[test]
    fn head_tail_and_head_tail_keep_the_right_tokens() {
        let tok = tiny_bert();
        let all = content(&tok, LONG);
        assert!(all.len() > 14, "{}", all.len());
        let n = all.len();
        let head = tok.encode(LONG, "", Truncation::Head).unwrap();
        assert_eq!(head.segments[0].ids, [&[2][..], &all[..14], &[3]].concat());
        assert_eq!((head.n_tokens, head.truncated), (16, true));

        let tail = tok.encode(LONG, "", Truncation::Tail).unwrap();
        assert_eq!(
            tail.segments[0].ids,
            [&[2][..], &all[n - 14..], &[3]].concat()
        );

        let head_tail = tok.encode(LONG, "", Truncation::HeadTail).unwrap();
        // budget 14: 3 from the head (14 / 4), 11 from the tail.
        assert_eq!(
            head_tail.segments[0].ids,
            [&[2][..], &all[..3], &all[n - 11..], &[3]].concat()
        );
        assert!(head_tail.truncated);
    }

    #[test]
    fn prefix_stays_in_front_of_tail_cuts_and_every_window() {
        let tok = tiny_bert();
        let prefix = "query: ";
        let all = content(&tok, &format!("{prefix}{LONG}"));
        let n_prefix = content(&tok, "query:").len();
        assert_eq!(&all[..n_prefix], &content(&tok, "query:")[..]);
        let (pre, body) = all.split_at(n_prefix);

        let tail = tok.encode(LONG, prefix, Truncation::Tail).unwrap();
        let keep = 14 - n_prefix;
        assert_eq!(
            tail.segments[0].ids,
            [&[2][..], pre, &body[body.len() - keep..], &[3]].concat()
        );

        let windows = tok.encode(LONG, prefix, Truncation::Window).unwrap();
        assert!(!windows.truncated);
        assert_eq!(windows.n_tokens, all.len() + 2);
        let step = keep - keep / 4;
        let mut covered = Vec::new();
        for (i, seg) in windows.segments.iter().enumerate() {
            assert!(seg.ids.len() <= 16);
            assert_eq!(&seg.ids[..1 + n_prefix], &[&[2][..], pre].concat()[..]);
            assert_eq!(seg.ids.last(), Some(&3));
            let window_body = &seg.ids[1 + n_prefix..seg.ids.len() - 1];
            assert_eq!(
                window_body,
                &body[i * step..(i * step + keep).min(body.len())]
            );
            covered.extend_from_slice(window_body);
        }
        // The windows reach the last token of the text.
        assert_eq!(covered.last(), body.last());
    }

    #[test]
    fn pairs_follow_the_strategy_and_reject_windowing() {
        let tok = tiny_bert();
        let hyp = "This text is about politics.";
        let longest = tok
            .encode_pair(
                LONG,
                hyp,
                TruncationStrategy::LongestFirst,
                Truncation::Head,
            )
            .unwrap();
        let only_first = tok
            .encode_pair(LONG, hyp, TruncationStrategy::OnlyFirst, Truncation::Head)
            .unwrap();
        assert!(longest.truncated && only_first.truncated);
        assert_eq!(longest.segments[0].ids.len(), 16);
        let hyp_ids = content(&tok, hyp);
        // only_first keeps the whole hypothesis; the tail of the ids is `hyp [SEP]`.
        let ids = &only_first.segments[0].ids;
        assert_eq!(
            &ids[ids.len() - hyp_ids.len() - 1..ids.len() - 1],
            &hyp_ids[..]
        );
        let types = &only_first.segments[0].type_ids;
        assert_eq!(types.iter().filter(|t| **t == 1).count(), hyp_ids.len() + 1);
        assert!(tok
            .encode_pair(
                LONG,
                hyp,
                TruncationStrategy::LongestFirst,
                Truncation::Window
            )
            .is_err());
    }

    #[test]
    fn id_bound_is_one_past_the_highest_id_of_vocabulary_and_added_tokens() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
        // A WordPiece vocabulary, a sentencepiece one (XLM-R's, tiny) and e5's (250,002 pieces).
        for path in [
            "fixtures/parity/tiny/bert/tokenizer.json",
            "fixtures/parity/tiny/xlm-roberta/tokenizer.json",
            "models/multilingual-e5-small-q4/tokenizer.json",
        ] {
            let tok = TextTokenizer::from_file(&shared.join(path), 512).unwrap();
            let highest = tok.inner.get_vocab(true).into_values().max().unwrap();
            assert_eq!(tok.id_bound(), highest + 1, "{path}");
        }
    }

    #[test]
    fn limits_without_room_for_text_are_refused() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/parity/tiny/bert/tokenizer.json");
        let err = TextTokenizer::from_file(&path, 3).unwrap_err().to_string();
        assert!(
            err.contains("tokenizer.json") && err.contains("no room"),
            "{err}"
        );
    }
}
