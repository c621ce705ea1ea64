//! `$OUT_DIR/NAME.sha256`: the digest of each fine-tuned model's weights under `models/tuned`,
//! for the cross-encoders the built-in blends and route compile in (`src/heads.rs`).

#[path = "../build-support/digests.rs"]
mod digests;

fn main() {
    digests::write_digests("tuned", "cross_encoder.safetensors", "");
}
