//! Integration tests of the heads stage: deterministic training on synthetic data, the head
//! files, and the dataset readers on the real shared data.

mod synthetic {
    use stance_heads::head::DataSummary;
    use stance_heads::rng::SeededRng;
    use stance_heads::train::{Split, TrainRequest};
    use stance_heads::{train, Head, InputKind, Task, TrainConfig};
    use std::path::Path;

    const DIM: usize = 16;

    /// Three Gaussian clusters in DIM dimensions, L2-normalised like encoder output.
    fn clusters(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = SeededRng::new(seed);
        let centres: Vec<Vec<f64>> = (0..3)
            .map(|c| {
                (0..DIM)
                    .map(|j| if j % 3 == c { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3;
            let v: Vec<f64> = centres[c].iter().map(|m| m + 0.35 * rng.normal()).collect();
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            x.push(v.iter().map(|a| (a / norm) as f32).collect());
            y.push(c);
        }
        (x, y)
    }

    fn labels() -> Vec<String> {
        vec!["negative".into(), "neutral".into(), "positive".into()]
    }

    fn request<'a>(
        train_xy: &'a (Vec<Vec<f32>>, Vec<usize>),
        valid_xy: &'a (Vec<Vec<f32>>, Vec<usize>),
        sources: (&'a [usize], &'a [usize]),
        config: TrainConfig,
    ) -> TrainRequest<'a> {
        TrainRequest {
            task: Task::Sentiment,
            labels: labels(),
            input: InputKind::Single,
            embedding_dim: DIM,
            encoder: "synthetic".into(),
            train: Split {
                features: &train_xy.0,
                labels: &train_xy.1,
                sources: sources.0,
            },
            valid: Split {
                features: &valid_xy.0,
                labels: &valid_xy.1,
                sources: sources.1,
            },
            train_data: vec![DataSummary {
                data: "synthetic-train".into(),
                rows: train_xy.0.len(),
                labels: Default::default(),
            }],
            valid_data: vec![],
            config,
            warm_start: None,
        }
    }

    fn small_config(seed: u64) -> TrainConfig {
        TrainConfig {
            hidden: vec![32],
            max_epochs: 15,
            patience: 4,
            seed,
            ..TrainConfig::default()
        }
    }

    fn files(dir: &Path) -> (Vec<u8>, Vec<u8>) {
        (
            std::fs::read(dir.join("head.safetensors")).unwrap(),
            std::fs::read(dir.join("head.json")).unwrap(),
        )
    }

    #[test]
    fn separable_data_trains_well_and_deterministically() {
        let tr = clusters(600, 1);
        let va = clusters(150, 2);
        let te = clusters(300, 3);
        let (s_tr, s_va) = (vec![0; 600], vec![0; 150]);
        let dir = tempfile::tempdir().unwrap();

        let mut epochs = 0;
        let a = train(
            request(&tr, &va, (&s_tr, &s_va), small_config(7)),
            &mut |p| {
                if let stance_heads::train::Progress::Epoch(_) = p {
                    epochs += 1
                }
            },
        )
        .unwrap();
        assert!(epochs >= 1 && epochs == a.history.len());
        a.head.save(&dir.path().join("a")).unwrap();
        let b = train(
            request(&tr, &va, (&s_tr, &s_va), small_config(7)),
            &mut |_| {},
        )
        .unwrap();
        b.head.save(&dir.path().join("b")).unwrap();
        let c = train(
            request(&tr, &va, (&s_tr, &s_va), small_config(8)),
            &mut |_| {},
        )
        .unwrap();
        c.head.save(&dir.path().join("c")).unwrap();
        assert_eq!(
            files(&dir.path().join("a")),
            files(&dir.path().join("b")),
            "same seed, same bytes"
        );
        assert_ne!(
            files(&dir.path().join("a")).0,
            files(&dir.path().join("c")).0,
            "the seed matters"
        );

        let loaded = Head::load(&dir.path().join("a")).unwrap();
        let probs = loaded.predict(&te.0).unwrap();
        assert_eq!(
            probs,
            a.head.predict(&te.0).unwrap(),
            "a loaded head predicts as the trained one"
        );
        let gold: Vec<usize> = te.1.clone();
        let report = stance_heads::metrics::evaluate(&gold, &probs, &labels(), None).unwrap();
        assert!(report.macro_f1 > 0.9, "macro-F1 {}", report.macro_f1);
        assert!(probs
            .iter()
            .all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5));
        let record = loaded.meta.training.as_ref().unwrap();
        assert!(record.best_epoch >= 1 && record.valid_score > 0.9);
        assert!(loaded.meta.temperature > 0.0);
    }

    #[test]
    fn noisy_labels_stop_early_and_calibrate() {
        // Labels with 30% noise: the best epoch comes early, and temperature scaling must not
        // leave the validation ECE worse than the raw softmax.
        let tr = clusters(600, 4);
        let va = clusters(300, 5);
        let mut rng = SeededRng::new(9);
        let flip = |(x, y): (Vec<Vec<f32>>, Vec<usize>), rng: &mut SeededRng| {
            let y = y
                .into_iter()
                .map(|c| if rng.next_f64() < 0.3 { (c + 1) % 3 } else { c })
                .collect();
            (x, y)
        };
        let tr = flip(tr, &mut rng);
        let va = flip(va, &mut rng);
        let (s_tr, s_va) = (vec![0; 600], vec![0; 300]);
        let cfg = TrainConfig {
            hidden: vec![64],
            dropout: 0.0,
            input_dropout: 0.0,
            learning_rate: 3e-3,
            max_epochs: 60,
            patience: 3,
            seed: 1,
            ..TrainConfig::default()
        };
        let t = train(request(&tr, &va, (&s_tr, &s_va), cfg), &mut |_| {}).unwrap();
        let record = t.head.meta.training.clone().unwrap();
        assert!(record.epochs_run < 60, "early stopping never fired");
        assert_eq!(record.epochs_run, record.best_epoch + 3);
        assert!(
            record.valid_ece <= record.valid_ece_uncalibrated + 1e-9,
            "{record:?}"
        );
    }

    #[test]
    fn warm_start_keeps_the_start_unless_validation_improves() {
        let tr = clusters(300, 11);
        let va = clusters(150, 12);
        let (s_tr, s_va) = (vec![0; 300], vec![0; 150]);
        let base = train(
            request(&tr, &va, (&s_tr, &s_va), small_config(3)),
            &mut |_| {},
        )
        .unwrap();
        let mut req = request(&tr, &va, (&s_tr, &s_va), small_config(4));
        req.warm_start = Some((&base.head, "base".into()));
        let tuned = train(req, &mut |_| {}).unwrap();
        assert_eq!(tuned.history[0].epoch, 0);
        assert!(
            tuned.head.meta.training.as_ref().unwrap().valid_score >= tuned.history[0].valid_score
        );
        assert_eq!(
            tuned
                .head
                .meta
                .training
                .as_ref()
                .unwrap()
                .warm_start
                .as_deref(),
            Some("base")
        );

        // A head with another layout cannot be fine-tuned.
        let mut req = request(
            &tr,
            &va,
            (&s_tr, &s_va),
            TrainConfig {
                hidden: vec![8],
                ..small_config(4)
            },
        );
        req.warm_start = Some((&base.head, "base".into()));
        let err = train(req, &mut |_| {}).err().unwrap().to_string();
        assert!(err.contains("cannot fine-tune base"), "{err}");
    }

    #[test]
    fn a_head_of_several_members_averages_the_seeds_heads() {
        // Members 0, 1, 2 of a head seeded 5 are the one-MLP heads seeded 5, 6 and 7: the
        // head's logits are their mean, it saves and loads whole, and its record names them.
        let tr = clusters(300, 21);
        let va = clusters(150, 22);
        let te = clusters(90, 23);
        let (s_tr, s_va) = (vec![0; 300], vec![0; 150]);
        let config = |seed, members| TrainConfig { members, ..small_config(seed) };
        let ensemble = train(request(&tr, &va, (&s_tr, &s_va), config(5, 3)), &mut |_| {}).unwrap();
        let singles: Vec<Head> = (5..8)
            .map(|seed| train(request(&tr, &va, (&s_tr, &s_va), config(seed, 1)), &mut |_| {}).unwrap().head)
            .collect();
        let single_logits: Vec<Vec<Vec<f32>>> = singles.iter().map(|h| h.logits(&te.0).unwrap()).collect();
        for (row, z) in ensemble.head.logits(&te.0).unwrap().iter().enumerate() {
            for (j, &v) in z.iter().enumerate() {
                let mean = single_logits.iter().map(|l| l[row][j]).sum::<f32>() / 3.0;
                assert!((v - mean).abs() < 1e-5, "row {row} class {j}: {v} against the seeds' mean {mean}");
            }
        }
        assert!(single_logits[0] != single_logits[1], "the seeds gave the same head");

        let record = ensemble.head.meta.training.clone().unwrap();
        let seeds: Vec<u64> = record.members.iter().map(|m| m.seed).collect();
        assert_eq!(seeds, [5, 6, 7]);
        for (member, single) in record.members.iter().zip(&singles) {
            let single = single.meta.training.as_ref().unwrap();
            assert_eq!((member.best_epoch, member.valid_score), (single.best_epoch, single.valid_score));
        }

        let dir = tempfile::tempdir().unwrap();
        ensemble.head.save(dir.path()).unwrap();
        let loaded = Head::load(dir.path()).unwrap();
        assert_eq!(loaded.meta.members, 3);
        assert_eq!(loaded.predict(&te.0).unwrap(), ensemble.head.predict(&te.0).unwrap());

        // Weights and head.json must agree on the number of members, both ways.
        let json = std::fs::read_to_string(dir.path().join("head.json")).unwrap();
        std::fs::write(dir.path().join("head.json"), json.replace("\"members\": 3", "\"members\": 4")).unwrap();
        let err = Head::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no tensor `members.3.layers.0.weight`"), "{err}");
        std::fs::write(dir.path().join("head.json"), json.replace("\"members\": 3", "\"members\": 2")).unwrap();
        let err = Head::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("`members.2.layers.0.bias`") && err.contains("does not describe"), "{err}");

        // A one-member head keeps the single MLP's file layout: no `members` anywhere.
        singles[0].save(&dir.path().join("single")).unwrap();
        assert!(!String::from_utf8(files(&dir.path().join("single")).1).unwrap().contains("members"));
    }

    #[test]
    fn a_corrupt_head_is_an_error() {
        let tr = clusters(90, 1);
        let s = vec![0; 90];
        let t = train(
            request(
                &tr,
                &tr,
                (&s, &s),
                TrainConfig {
                    max_epochs: 1,
                    ..small_config(1)
                },
            ),
            &mut |_| {},
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        t.head.save(dir.path()).unwrap();
        let json = std::fs::read_to_string(dir.path().join("head.json")).unwrap();
        std::fs::write(
            dir.path().join("head.json"),
            json.replace("\"hidden\": [\n    32\n  ]", "\"hidden\": [\n    33\n  ]"),
        )
        .unwrap();
        let err = Head::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");
        assert!(Head::load(&dir.path().join("missing")).is_err());
    }
}

mod shared_data {
    use stance_heads::data::{read_dataset, DataSpec, Task};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn shared(rel: &str) -> String {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        assert!(root.is_dir(), "../shared/data must sit beside the project");
        root.join(rel).display().to_string()
    }

    fn counts(spec: &str, task: Task) -> BTreeMap<String, usize> {
        let d = read_dataset(&spec.parse::<DataSpec>().unwrap(), task).unwrap();
        assert!(d.skipped.is_empty(), "{spec}: {:?}", d.skipped);
        d.label_counts()
    }

    fn map(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn counts_match_the_data_readme() {
        let s = Task::Sentiment;
        assert_eq!(
            counts(&shared("sentiment/umsab/train.jsonl"), s),
            map(&[("negative", 4904), ("neutral", 4904), ("positive", 4904)])
        );
        assert_eq!(
            counts(&shared("sentiment/umsab/test.jsonl"), s)
                .values()
                .sum::<usize>(),
            6960
        );
        assert_eq!(
            counts(&shared("stance/xstance/valid.jsonl#lang=fr"), Task::Stance),
            map(&[("against", 516), ("favor", 539)])
        );
        assert_eq!(
            counts(&shared("stance/cic/train.jsonl"), Task::Stance),
            map(&[("against", 4836), ("favor", 4850), ("none", 2388)])
        );
        assert_eq!(
            counts(&shared("stance/semeval2016/test.jsonl"), Task::Stance),
            map(&[("against", 715), ("favor", 304), ("none", 230)])
        );
        assert_eq!(
            counts(&shared("irony/isarcasmeval/train.jsonl"), Task::Irony),
            map(&[("ironic", 1612), ("not_ironic", 4957)])
        );
        assert_eq!(
            counts(&shared("toxicity/mlma/valid.jsonl"), Task::Toxicity),
            map(&[("non_toxic", 227), ("toxic", 1066)])
        );
        // RumourEval SDQC → reply stance: support → agree, deny → disagree, query + comment → none.
        assert_eq!(
            counts(
                &shared("reply-stance/rumoureval2019/train.jsonl"),
                Task::Reply
            ),
            map(&[("agree", 925), ("disagree", 378), ("none", 3519 + 395)])
        );
        assert_eq!(
            counts(
                &shared("reply-stance/rumoureval2019/valid.jsonl"),
                Task::Reply
            )
            .values()
            .sum::<usize>(),
            1485
        );
        // DAST reads `label_parent`: support 261, deny 632, comment 1,810 + query 304.
        assert_eq!(
            counts(&shared("reply-stance/dast/all.jsonl"), Task::Reply),
            map(&[("agree", 261), ("disagree", 632), ("none", 1810 + 304)])
        );
    }

    #[test]
    fn reply_parents_come_from_rows_and_thread_sources() {
        let spec: DataSpec = shared("reply-stance/rumoureval2019/train.jsonl")
            .parse()
            .unwrap();
        let d = read_dataset(&spec, Task::Reply).unwrap();
        // Row 1 is the source post "Even ants won't eat aspartame!" (its own thread source);
        // row 2 replies to it.
        assert_eq!(
            d.examples[0].context.as_deref(),
            Some("Even ants won't eat aspartame!")
        );
        assert_eq!(
            d.examples[1].context.as_deref(),
            Some("Even ants won't eat aspartame!")
        );
        let spec: DataSpec = shared("reply-stance/dast/all.jsonl").parse().unwrap();
        let d = read_dataset(&spec, Task::Reply).unwrap();
        // The first DAST row replies to the submission, whose title is the thread source.
        assert_eq!(
            d.examples[0].context.as_deref(),
            Some("5G-teknologien er en miljøtrussel, som bør stoppes")
        );
        assert!(d.examples[1]
            .context
            .as_deref()
            .unwrap()
            .starts_with("Jeg synes, det er et interessant indspark"));
    }

    #[test]
    fn thread_split_of_dast_is_disjoint_and_complete() {
        let part = |p: &str| {
            let spec: DataSpec = shared(&format!(
                "reply-stance/dast/all.jsonl#by=thread_id,part={p}"
            ))
            .parse()
            .unwrap();
            read_dataset(&spec, Task::Reply).unwrap().examples.len()
        };
        let (a, b, c) = (part("0-60"), part("60-80"), part("80-100"));
        assert_eq!(a + b + c, 3007);
        assert!(a > 0 && b > 0 && c > 0, "{a} {b} {c}");
    }
}
