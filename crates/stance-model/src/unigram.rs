//! The model part of a `tokenizer.json`, with Unigram vocabularies held compactly.
//!
//! Why: `tokenizers` builds its Unigram lookup as a byte trie with a hash map in every node.
//! For e5's 250,000 pieces that is 270 MB of memory (measured: resident size before and after
//! loading the tokenizer), more than the whole encoder, and a third of a second to build
//! (upstream: huggingface/tokenizers PR #2039). [`CompactUnigram`] keeps the same pieces in a
//! finite-state transducer (`fst`, a few MB), which answers the same question, "which pieces
//! start here", and runs `tokenizers`' own best-path search over it, step for step: the same
//! tokens, ids and offsets (a test compares them on thousands of texts in many scripts).
//! Every other model kind (WordPiece, BPE, WordLevel) is `tokenizers`' own.

use fst::raw::{Fst, Output};
use serde::{Deserialize, Deserializer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::models::unigram::UnigramTrainer;
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::{Model, Token};

/// What `tokenizers` adds to the lowest piece score to score an unknown character
/// (sentencepiece's `kUnkPenalty`).
const UNKNOWN_PENALTY: f64 = 10.0;

/// A tokenizer's model: Unigram vocabularies compact, the rest as `tokenizers` loads them.
#[derive(Clone)]
pub enum VocabModel {
    Unigram(CompactUnigram),
    Other(Box<ModelWrapper>),
}

impl VocabModel {
    /// One more than the highest id of the model's vocabulary. A Unigram model's ids are the
    /// positions of its pieces; the others' are read from their vocabularies (building the
    /// map of 250,000 piece strings for this took a tenth of a second of every start).
    pub fn id_bound(&self) -> u32 {
        match self {
            Self::Unigram(m) => m.vocab.len() as u32,
            Self::Other(m) => m.get_vocab().into_values().max().map_or(0, |id| id + 1),
        }
    }
}

/// A Unigram (sentencepiece) model: pieces with log-probabilities, text split by the most
/// probable sequence of pieces, unknown characters fused into one unknown token.
#[derive(Clone)]
pub struct CompactUnigram {
    /// Piece bytes → id. A piece listed twice maps to its last id, as in `tokenizers`.
    ids: Fst<Vec<u8>>,
    /// Each id's piece and score.
    vocab: Vec<(String, f64)>,
    unk_id: Option<usize>,
    /// The score of an unknown character: the lowest piece score less [`UNKNOWN_PENALTY`].
    unk_score: f64,
    byte_fallback: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum UnigramError {
    #[error("a Unigram model needs at least one piece")]
    EmptyVocabulary,
    #[error("unk_id {0} is not in the vocabulary")]
    UnknownIdOutside(usize),
    #[error("the text has a character no piece covers and the model has no unk_id")]
    NoUnknownId,
    #[error("cannot index the pieces: {0}")]
    Index(#[from] fst::Error),
    #[error("a compact Unigram model is not written back to disk")]
    NotSaved,
}

/// The fields of a Unigram `model` section that `tokenizers` reads.
#[derive(Deserialize)]
struct UnigramSection {
    vocab: Vec<(String, f64)>,
    #[serde(default)]
    unk_id: Option<usize>,
    #[serde(default)]
    byte_fallback: bool,
}

impl CompactUnigram {
    pub fn new(vocab: Vec<(String, f64)>, unk_id: Option<usize>, byte_fallback: bool) -> Result<Self, UnigramError> {
        if let Some(unk) = unk_id {
            if vocab.is_empty() {
                return Err(UnigramError::EmptyVocabulary);
            }
            if unk >= vocab.len() {
                return Err(UnigramError::UnknownIdOutside(unk));
            }
        }
        let mut keys: Vec<(&[u8], u64)> = vocab.iter().enumerate().map(|(id, (piece, _))| (piece.as_bytes(), id as u64)).collect();
        // Sorted by bytes, and among equal pieces by id; then the last of each run wins.
        keys.sort_unstable();
        let mut builder = fst::MapBuilder::memory();
        for (i, &(piece, id)) in keys.iter().enumerate() {
            if keys.get(i + 1).is_some_and(|next| next.0 == piece) {
                continue;
            }
            builder.insert(piece, id)?;
        }
        let ids = builder.into_map().into_fst();
        let min_score = vocab.iter().map(|(_, score)| *score).fold(f64::INFINITY, f64::min);
        Ok(CompactUnigram { ids, vocab, unk_id, unk_score: min_score - UNKNOWN_PENALTY, byte_fallback })
    }

    fn id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece).map(|out| out.value() as u32)
    }

    /// Calls `found(length, id)` for every piece that `bytes` starts with, shortest first.
    fn pieces_at(&self, bytes: &[u8], mut found: impl FnMut(usize, usize)) {
        let mut node = self.ids.root();
        let mut output = Output::zero();
        for (i, &b) in bytes.iter().enumerate() {
            let Some(t) = node.find_input(b) else { return };
            let transition = node.transition(t);
            output = output.cat(transition.out);
            node = self.ids.node(transition.addr);
            if node.is_final() {
                found(i + 1, output.cat(node.final_output()).value() as usize);
            }
        }
    }

    /// The most probable split of `sentence` into pieces, as byte ranges, with runs of unknown
    /// characters fused: `tokenizers`' `Unigram::encode_optimized`, step for step.
    fn split(&self, sentence: &str) -> Result<Vec<(usize, usize)>, UnigramError> {
        /// The best path ending at a position: its score, where its last piece starts, and
        /// that piece's id.
        #[derive(Clone, Copy)]
        struct Best {
            score: f64,
            start: Option<usize>,
            id: usize,
        }
        let size = sentence.len();
        let bytes = sentence.as_bytes();
        let mut best = vec![Best { score: 0.0, start: None, id: 0 }; size + 1];
        let mut start = 0;
        while start < size {
            let score_here = best[start].score;
            let char_len = sentence[start..].chars().next().map_or(1, char::len_utf8);
            let mut has_single_char_piece = false;
            self.pieces_at(&bytes[start..], |len, id| {
                let candidate = self.vocab[id].1 + score_here;
                let target = &mut best[start + len];
                if target.start.is_none() || candidate > target.score {
                    *target = Best { score: candidate, start: Some(start), id };
                }
                has_single_char_piece |= len == char_len;
            });
            if !has_single_char_piece {
                let candidate = self.unk_score + score_here;
                let target = &mut best[start + char_len];
                if target.start.is_none() || candidate > target.score {
                    let id = self.unk_id.ok_or(UnigramError::NoUnknownId)?;
                    *target = Best { score: candidate, start: Some(start), id };
                }
            }
            start += char_len;
        }
        let mut pieces = Vec::new();
        let mut end = size;
        // The end of a run of unknown pieces being fused (walking backwards).
        let mut unknown_end: Option<usize> = None;
        while end > 0 {
            let node = best[end];
            let start = node.start.expect("every character boundary is reached");
            if Some(node.id) == self.unk_id {
                unknown_end.get_or_insert(end);
            } else {
                if let Some(run_end) = unknown_end.take() {
                    pieces.push((end, run_end));
                }
                pieces.push((start, end));
            }
            end = start;
        }
        if let Some(run_end) = unknown_end {
            pieces.push((0, run_end));
        }
        pieces.reverse();
        Ok(pieces)
    }
}

impl Model for CompactUnigram {
    type Trainer = UnigramTrainer;

    fn tokenize(&self, sentence: &str) -> tokenizers::Result<Vec<Token>> {
        let mut tokens = Vec::new();
        for (start, end) in self.split(sentence)? {
            let piece = &sentence[start..end];
            if let Some(id) = self.id(piece) {
                tokens.push(Token::new(id, piece.to_string(), (start, end)));
                continue;
            }
            if self.byte_fallback {
                let bytes: Option<Vec<Token>> = piece
                    .bytes()
                    .map(|b| {
                        let name = format!("<0x{b:02X}>");
                        self.id(&name).map(|id| Token::new(id, name, (start, end)))
                    })
                    .collect();
                if let Some(bytes) = bytes {
                    tokens.extend(bytes);
                    continue;
                }
            }
            let unk = self.unk_id.ok_or(UnigramError::NoUnknownId)?;
            tokens.push(Token::new(unk as u32, piece.to_string(), (start, end)));
        }
        Ok(tokens)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.vocab.get(id as usize).map(|(piece, _)| piece.clone())
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        let mut vocab = HashMap::with_capacity(self.vocab.len());
        let mut stream = self.ids.stream();
        while let Some((piece, out)) = fst::Streamer::next(&mut stream) {
            vocab.insert(String::from_utf8_lossy(piece).into_owned(), out.value() as u32);
        }
        vocab
    }

    fn get_vocab_size(&self) -> usize {
        self.vocab.len()
    }

    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        Err(Box::new(UnigramError::NotSaved))
    }

    fn get_trainer(&self) -> UnigramTrainer {
        UnigramTrainer::default()
    }
}

impl Model for VocabModel {
    type Trainer = TrainerWrapper;

    fn tokenize(&self, sequence: &str) -> tokenizers::Result<Vec<Token>> {
        match self {
            Self::Unigram(m) => m.tokenize(sequence),
            Self::Other(m) => m.tokenize(sequence),
        }
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        match self {
            Self::Unigram(m) => m.token_to_id(token),
            Self::Other(m) => m.token_to_id(token),
        }
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        match self {
            Self::Unigram(m) => m.id_to_token(id),
            Self::Other(m) => m.id_to_token(id),
        }
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        match self {
            Self::Unigram(m) => m.get_vocab(),
            Self::Other(m) => m.get_vocab(),
        }
    }

    fn get_vocab_size(&self) -> usize {
        match self {
            Self::Unigram(m) => m.get_vocab_size(),
            Self::Other(m) => m.get_vocab_size(),
        }
    }

    fn save(&self, folder: &Path, prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        match self {
            Self::Unigram(m) => m.save(folder, prefix),
            Self::Other(m) => m.save(folder, prefix),
        }
    }

    fn get_trainer(&self) -> TrainerWrapper {
        match self {
            Self::Unigram(m) => TrainerWrapper::UnigramTrainer(m.get_trainer()),
            Self::Other(m) => m.get_trainer(),
        }
    }
}

impl<'de> Deserialize<'de> for VocabModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let section = serde_json::Value::deserialize(deserializer)?;
        if section.get("type").and_then(|t| t.as_str()) == Some("Unigram") {
            let UnigramSection { vocab, unk_id, byte_fallback } = serde_json::from_value(section).map_err(D::Error::custom)?;
            CompactUnigram::new(vocab, unk_id, byte_fallback).map(Self::Unigram).map_err(D::Error::custom)
        } else {
            ModelWrapper::deserialize(section).map(|m| Self::Other(Box::new(m))).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::Tokenizer;

    type TokenizerImpl = tokenizers::TokenizerImpl<
        VocabModel,
        tokenizers::NormalizerWrapper,
        tokenizers::PreTokenizerWrapper,
        tokenizers::PostProcessorWrapper,
        tokenizers::DecoderWrapper,
    >;

    fn shared(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared").join(path)
    }

    /// The `text` (or `title`) field of the first `n` records of a JSONL file.
    fn texts(path: &str, n: usize) -> Vec<String> {
        let content = std::fs::read_to_string(shared(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        content
            .lines()
            .take(n)
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                record.get("text").or(record.get("title")).and_then(|t| t.as_str()).unwrap_or_default().to_string()
            })
            .collect()
    }

    /// Texts and strings that stress the search: unknown characters alone, in runs and
    /// between known ones, every script the vocabulary covers and some it does not, spaces,
    /// control characters, the special tokens' spellings, long repeats.
    fn edge_cases() -> Vec<String> {
        let mut cases: Vec<String> = [
            "", " ", "  \t\n ", "a", "▁", "<unk>", "<s></s><pad><mask>", "query: <unk> et </s>",
            "\u{10FFFF}", "\u{E000}\u{E001}x\u{E002}", "x\u{1F9D1}\u{200D}\u{1F4BB}y", "🙂🙃🫠🫨",
            "\u{0}\u{1}\u{7F}", "ﬁancé Æsir Œuvre ß ǅ", "Ελληνικά Русский עברית العربية हिन्दी 中文 日本語 한국어 ไทย",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "http://example.com/a_b-c?d=e&f=g#h @user #hashtag",
            "1234567890 3,14 10 000 € $ £ ¥ % ‰ ° № ™ ©",
            "Sollen Ausländer/-innen, die seit mindestens zehn Jahren in der Schweiz leben, das Stimm- und Wahlrecht auf Gemeindeebene erhalten?",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cases.push("l'hôpital ".repeat(300));
        cases.push("\u{13000}\u{13001}\u{1D11E} ".repeat(20));
        cases
    }

    #[test]
    fn the_compact_unigram_tokenizes_exactly_as_tokenizers_does() {
        let path = shared("models/multilingual-e5-small-q4/tokenizer.json");
        let reference = Tokenizer::from_file(&path).expect("tokenizers' own loading");
        let json = std::fs::read_to_string(&path).unwrap();
        let compact: TokenizerImpl = serde_json::from_str(&json).expect("compact loading");
        assert!(matches!(compact.get_model(), VocabModel::Unigram(_)));
        let mut all = edge_cases();
        for (file, n) in [
            ("data/bench/comments-2k.jsonl", 2000),
            ("data/bench/articles.jsonl", 500),
            ("data/sentiment/umsab/test.jsonl", 3000),
            ("data/toxicity/hatecheck-multi/test.jsonl", 2000),
            ("data/toxicity/mlma/test.jsonl", 1500),
            ("data/stance/xstance/valid.jsonl", 1000),
        ] {
            all.extend(texts(file, n));
        }
        let mut tokens = 0;
        for text in &all {
            for input in [text.clone(), format!("query: {text}")] {
                let want = reference.encode(input.as_str(), false).unwrap();
                let got = compact.encode(input.as_str(), false).unwrap();
                assert_eq!(got.get_ids(), want.get_ids(), "ids of {input:?}");
                assert_eq!(got.get_offsets(), want.get_offsets(), "offsets of {input:?}");
                assert_eq!(got.get_tokens(), want.get_tokens(), "pieces of {input:?}");
                tokens += want.len();
            }
        }
        assert!(tokens > 400_000, "{tokens} tokens compared");
        assert_eq!(compact.get_vocab(true), reference.get_vocab(true));
        assert_eq!(compact.get_vocab_size(true), reference.get_vocab_size(true));
        for id in [0, 3, 6, 1000, 250_000, 250_001] {
            assert_eq!(compact.id_to_token(id), reference.id_to_token(id), "id {id}");
        }
    }

    #[test]
    fn ties_duplicates_and_unknown_runs_follow_tokenizers() {
        // A vocabulary with a duplicated piece, equal scores and gaps, under both loaders.
        let vocab = serde_json::json!([["<unk>", 0.0], ["a", -1.0], ["b", -1.0], ["ab", -2.0], ["a", -0.5], ["abc", -3.5], ["c", -1.5]]);
        for byte_fallback in [false, true] {
            let section = serde_json::json!({"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": byte_fallback});
            let reference = ModelWrapper::deserialize(section.clone()).unwrap();
            let compact = VocabModel::deserialize(section).unwrap();
            assert!(matches!(compact, VocabModel::Unigram(_)));
            for text in ["", "a", "ab", "abc", "abcd", "xyz", "axbyc", "dda", "abcabcab", "éa", "a€€b"] {
                let want = reference.tokenize(text).unwrap();
                let got = compact.tokenize(text).unwrap();
                let view = |t: &[Token]| t.iter().map(|t| (t.id, t.value.clone(), t.offsets)).collect::<Vec<_>>();
                assert_eq!(view(&got), view(&want), "{text:?}, byte_fallback {byte_fallback}");
            }
        }
        let section = serde_json::json!({"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"});
        assert!(matches!(VocabModel::deserialize(section).unwrap(), VocabModel::Other(_)));
    }
}
