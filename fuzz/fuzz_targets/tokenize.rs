//! Tokenization of hostile strings with the default encoder's tokenizer (multilingual-e5-small,
//! XLM-R sentencepiece), through `stance_model::tokenize::TextTokenizer` as the encode stage
//! uses it. Build with `--features model`.
//!
//! Input: one settings byte, then the text (bytes decoded lossily as UTF-8).
//! - bits 0-1: truncation (head, tail, head-tail, window);
//! - bits 2-3: prefix ("", "query: ", "passage: ", a long prefix that fills the small budget);
//! - bit 4: limit 512 (the model's) or 16 (so that truncation and windows happen often);
//! - bit 5: text pair (split at the first `\n`), bits 6-7: pair truncation strategy.
//!
//! Checks: no panic; every sequence within the limit, with its special tokens at both ends and
//! ids the vocabulary knows; `n_tokens` within the limit unless windowed; windows and
//! untruncated inputs count all tokens.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stance_model::tokenize::{Encoded, TextTokenizer, Truncation, TruncationStrategy};
use std::path::Path;
use std::sync::OnceLock;

const TOKENIZER: &str = "/work/shared/models/multilingual-e5-small-q4/tokenizer.json";

struct Tokenizers {
    full: TextTokenizer,
    small: TextTokenizer,
    bos: u32,
    eos: u32,
    bound: u32,
}

fn tokenizers() -> &'static Tokenizers {
    static T: OnceLock<Tokenizers> = OnceLock::new();
    T.get_or_init(|| {
        let path = std::env::var("STANCE_FUZZ_TOKENIZER").unwrap_or_else(|_| TOKENIZER.into());
        let full = TextTokenizer::from_file(Path::new(&path), 512).expect("e5 tokenizer loads");
        let small = TextTokenizer::from_file(Path::new(&path), 16).expect("e5 tokenizer loads");
        let bos = full.token_id("<s>").expect("<s>");
        let eos = full.token_id("</s>").expect("</s>");
        let bound = full.id_bound();
        Tokenizers {
            full,
            small,
            bos,
            eos,
            bound,
        }
    })
}

fn check_segments(t: &Tokenizers, tok: &TextTokenizer, e: &Encoded, what: &str) {
    assert!(!e.segments.is_empty(), "{what}: no segment");
    for s in &e.segments {
        assert!(
            s.ids.len() <= tok.max_tokens(),
            "{what}: {} ids over the limit {}",
            s.ids.len(),
            tok.max_tokens()
        );
        assert_eq!(s.ids.len(), s.type_ids.len(), "{what}");
        assert!(s.ids.len() >= 2, "{what}: no special tokens {:?}", s.ids);
        assert_eq!(s.ids[0], t.bos, "{what}: {:?}", s.ids);
        assert_eq!(*s.ids.last().unwrap(), t.eos, "{what}: {:?}", s.ids);
        assert!(s.ids.iter().all(|&id| id < t.bound), "{what}: id out of range");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    let t = tokenizers();
    let text = String::from_utf8_lossy(rest);
    let truncation = [
        Truncation::Head,
        Truncation::Tail,
        Truncation::HeadTail,
        Truncation::Window,
    ][(settings & 3) as usize];
    let prefix = [
        "",
        "query: ",
        "passage: ",
        "query: a prefix long enough to fill the whole budget of the small tokenizer: ",
    ][((settings >> 2) & 3) as usize];
    let tok = if settings & 0x10 != 0 { &t.small } else { &t.full };

    if settings & 0x20 == 0 {
        let e = tok
            .encode(&text, prefix, truncation)
            .expect("encoding a text never fails");
        check_segments(t, tok, &e, "single");
        match truncation {
            // (A prefix that fills the whole budget turns windows into a head cut.)
            Truncation::Window if !e.truncated => {
                if e.segments.len() == 1 {
                    assert_eq!(e.n_tokens, e.segments[0].ids.len());
                } else {
                    assert!(e.n_tokens > tok.max_tokens(), "{} windows for {} tokens", e.segments.len(), e.n_tokens);
                }
            }
            _ => {
                assert_eq!(e.segments.len(), 1);
                assert!(e.n_tokens <= tok.max_tokens(), "n_tokens {} over the limit", e.n_tokens);
                if e.truncated {
                    assert_eq!(e.segments[0].ids.len(), tok.max_tokens());
                } else {
                    assert_eq!(e.n_tokens, e.segments[0].ids.len());
                }
            }
        }
    } else {
        let (first, second) = text.split_once('\n').unwrap_or((&text, ""));
        let strategy = [
            TruncationStrategy::LongestFirst,
            TruncationStrategy::OnlyFirst,
            TruncationStrategy::OnlySecond,
            TruncationStrategy::LongestFirst,
        ][(settings >> 6) as usize];
        match (truncation, tok.encode_pair(first, second, strategy, truncation)) {
            (Truncation::Head | Truncation::Tail, Ok(e)) => {
                check_segments(t, tok, &e, "pair");
                assert_eq!(e.segments.len(), 1);
                assert!(e.n_tokens <= tok.max_tokens());
            }
            // OnlyFirst / OnlySecond cannot always fit: a clean error, not a panic.
            (Truncation::Head | Truncation::Tail, Err(_)) => {
                assert!(strategy != TruncationStrategy::LongestFirst, "longest-first pair failed");
            }
            (_, r) => assert!(r.is_err(), "{truncation} accepted for a pair"),
        }
    }
});
