//! Comment trees: derive `depth` and `root_id` from parent links, repairing what is broken.
//!
//! Two repairs keep every comment in the data while leaving the trees well-formed:
//! - an **orphan** (its parent is not among the comments of its article) becomes top-level; the
//!   missing id is kept in the `missing_parent_id` extra column;
//! - a **cycle** (a → b → … → a) is broken at the first of its comments in input order, which
//!   becomes top-level; the id it pointed to is kept in `cycle_parent_id`.

use crate::Comment;
use std::collections::HashMap;

/// Indices (into the slice given to [`link_threads`]) of the comments that were repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ThreadReport {
    pub orphans: Vec<usize>,
    pub cycles_broken: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unvisited,
    OnPath,
    Done,
}

/// Sets `depth` and `root_id` on every comment, repairing orphans and cycles in place.
/// Runs in linear time and never recurses, so arbitrarily deep threads are safe.
pub fn link_threads(comments: &mut [Comment]) -> ThreadReport {
    let mut report = ThreadReport::default();
    let index: HashMap<(&str, &str), usize> = comments
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.article_id.as_str(), c.comment_id.as_str()), i))
        .collect();

    // parent[i]: index of the parent, or None at top level.
    let mut parent: Vec<Option<usize>> = Vec::with_capacity(comments.len());
    for (i, c) in comments.iter().enumerate() {
        let p = match c.parent_id.as_deref() {
            None => None,
            Some(pid) => match index.get(&(c.article_id.as_str(), pid)) {
                Some(&j) if j != i => Some(j),
                Some(_) => {
                    // A comment that names itself as parent is the shortest cycle.
                    report.cycles_broken.push(i);
                    None
                }
                None => {
                    report.orphans.push(i);
                    None
                }
            },
        };
        parent.push(p);
    }
    drop(index);

    let n = comments.len();
    let mut state = vec![State::Unvisited; n];
    let mut depth = vec![0u32; n];
    let mut root = (0..n).collect::<Vec<usize>>();
    let mut path = Vec::new();
    for start in 0..n {
        if state[start] == State::Done {
            continue;
        }
        // Walk up until a finished comment, a top-level one, or a comment already on the path.
        let mut cur = start;
        loop {
            match state[cur] {
                State::Done => break,
                State::OnPath => {
                    // Cycle: break it at the member that comes first in the input.
                    let pos = path.iter().position(|&k| k == cur).expect("on path");
                    let cut = *path[pos..].iter().min().expect("non-empty cycle");
                    parent[cut] = None;
                    report.cycles_broken.push(cut);
                    // Everything on the path is unresolved again; restart from `start`.
                    for &k in &path {
                        state[k] = State::Unvisited;
                    }
                    path.clear();
                    cur = start;
                    continue;
                }
                State::Unvisited => {
                    state[cur] = State::OnPath;
                    path.push(cur);
                    match parent[cur] {
                        Some(p) => cur = p,
                        None => break,
                    }
                }
            }
        }
        // Resolve the path top-down.
        while let Some(k) = path.pop() {
            match parent[k] {
                None => {
                    depth[k] = 0;
                    root[k] = k;
                }
                Some(p) => {
                    depth[k] = depth[p] + 1;
                    root[k] = root[p];
                }
            }
            state[k] = State::Done;
        }
    }

    report.orphans.sort_unstable();
    report.cycles_broken.sort_unstable();
    report.cycles_broken.dedup();
    for &i in &report.orphans {
        let c = &mut comments[i];
        if let Some(pid) = c.parent_id.take() {
            c.extra.insert("missing_parent_id".into(), pid.into());
        }
    }
    for &i in &report.cycles_broken {
        let c = &mut comments[i];
        if let Some(pid) = c.parent_id.take() {
            c.extra.insert("cycle_parent_id".into(), pid.into());
        }
    }
    for i in 0..n {
        let root_id = comments[root[i]].comment_id.clone();
        comments[i].depth = depth[i];
        comments[i].root_id = root_id;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, parent: Option<&str>) -> Comment {
        Comment::new(id, "a1", parent.map(str::to_string), "text")
    }

    fn depths(cs: &[Comment]) -> Vec<(String, u32, String)> {
        cs.iter().map(|c| (c.comment_id.clone(), c.depth, c.root_id.clone())).collect()
    }

    #[test]
    fn tree_gets_depths_and_roots_whatever_the_order() {
        // Replies before their parents in the input.
        let mut cs = vec![c("r2", Some("r1")), c("r1", Some("t")), c("t", None), c("u", None)];
        let report = link_threads(&mut cs);
        assert_eq!(report, ThreadReport::default());
        assert_eq!(
            depths(&cs),
            vec![
                ("r2".into(), 2, "t".into()),
                ("r1".into(), 1, "t".into()),
                ("t".into(), 0, "t".into()),
                ("u".into(), 0, "u".into()),
            ]
        );
    }

    #[test]
    fn orphan_becomes_top_level_and_keeps_missing_id() {
        let mut cs = vec![c("a", Some("gone")), c("b", Some("a"))];
        let report = link_threads(&mut cs);
        assert_eq!(report.orphans, vec![0]);
        assert_eq!(cs[0].parent_id, None);
        assert_eq!(cs[0].extra["missing_parent_id"], "gone");
        assert_eq!((cs[1].depth, cs[1].root_id.as_str()), (1, "a"));
    }

    #[test]
    fn parent_in_another_article_is_an_orphan() {
        let mut cs = vec![c("a", None), Comment::new("b", "a2", Some("a".into()), "x")];
        let report = link_threads(&mut cs);
        assert_eq!(report.orphans, vec![1]);
    }

    #[test]
    fn cycle_is_broken_at_first_member_in_input_order() {
        let mut cs = vec![c("x", None), c("b", Some("c")), c("c", Some("d")), c("d", Some("b")), c("e", Some("d"))];
        let report = link_threads(&mut cs);
        assert_eq!(report.cycles_broken, vec![1]);
        assert_eq!(cs[1].parent_id, None);
        assert_eq!(cs[1].extra["cycle_parent_id"], "c");
        // b is now the root: d -> b (depth 1), c -> d (depth 2), e -> d (depth 2).
        assert_eq!(depths(&cs)[1..], [
            ("b".into(), 0, "b".into()),
            ("c".into(), 2, "b".into()),
            ("d".into(), 1, "b".into()),
            ("e".into(), 2, "b".into()),
        ]);
    }

    #[test]
    fn self_parent_is_a_cycle() {
        let mut cs = vec![c("a", Some("a"))];
        let report = link_threads(&mut cs);
        assert_eq!(report.cycles_broken, vec![0]);
        assert_eq!(cs[0].depth, 0);
    }

    #[test]
    fn very_deep_chain_does_not_overflow() {
        let mut cs: Vec<Comment> = (0..200_000)
            .map(|i| Comment::new(format!("n{i}"), "a1", (i > 0).then(|| format!("n{}", i - 1)), "t"))
            .collect();
        link_threads(&mut cs);
        assert_eq!(cs.last().unwrap().depth, 199_999);
        assert_eq!(cs.last().unwrap().root_id, "n0");
    }
}
