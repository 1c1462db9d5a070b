//! Every "invariant N" and "claim N" cited anywhere in the tree resolves in
//! `docs/`: an invariant is defined by a heading `Invariant N — …` in a docs
//! page, a claim by a row `| N | …` of the table in `docs/claims.md`. Links
//! between the docs pages, anchors included, must resolve too, and every
//! repository path the docs name must exist.
//!
//! It lives in this crate because the crate has no dependencies: the check
//! builds in seconds and reads only text files.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Files that may cite: sources, manifests, docs, RTL and scripts.
const CITING_EXTENSIONS: &[&str] = &["rs", "toml", "md", "v", "vlt", "sh", "tcl", "xdc", "in", "service"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Invariant,
    Claim,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Invariant => "invariant",
            Kind::Claim => "claim",
        })
    }
}

/// The numbers cited on one line: "invariant 3", "invariants 1-8",
/// "claims 1, 5, 8-10", "Invariant 2 and 8", any case.
fn citations_in_line(line: &str) -> Vec<(Kind, u32)> {
    let lower = line.to_lowercase();
    let mut found = Vec::new();
    for (kind, word) in [(Kind::Invariant, "invariant"), (Kind::Claim, "claim")] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(word).map(|i| i + from) {
            from = at + word.len();
            let starts_word = lower[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric() && c != '_');
            if !starts_word {
                continue;
            }
            let rest = lower[from..].strip_prefix('s').unwrap_or(&lower[from..]);
            found.extend(number_list(rest).into_iter().map(|n| (kind, n)));
        }
    }
    found
}

/// A list of numbers and ranges right after the keyword: " 1, 5, 8-10 and 12".
/// Stops at the first thing that is not part of such a list.
fn number_list(text: &str) -> Vec<u32> {
    let mut numbers = Vec::new();
    let Some(mut rest) = text.strip_prefix(char::is_whitespace) else {
        return numbers;
    };
    loop {
        let Some((first, after)) = leading_number(rest.trim_start()) else {
            return numbers;
        };
        rest = after;
        let range_end = rest.strip_prefix(['-', '–']).and_then(leading_number);
        match range_end {
            Some((last, after)) if last >= first => {
                numbers.extend(first..=last);
                rest = after;
            }
            _ => numbers.push(first),
        }
        let next = rest.trim_start();
        let next = next.strip_prefix(',').map(str::trim_start).unwrap_or(next);
        let next = next.strip_prefix("and ").unwrap_or(next);
        if next.len() == rest.len() || !next.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            return numbers;
        }
        rest = next;
    }
}

fn leading_number(text: &str) -> Option<(u32, &str)> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let value = text[..digits].parse().ok()?;
    Some((value, &text[digits..]))
}

/// Where each number is defined in the docs: the defining file and line.
type Definitions = BTreeMap<(Kind, u32), Vec<String>>;

fn definitions_in(page: &str, text: &str) -> Definitions {
    let mut defs = Definitions::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{page}:{}", i + 1);
        if let Some(heading) = line.strip_prefix('#') {
            let heading = heading.trim_start_matches('#').trim_start();
            if let Some((n, _)) = heading.strip_prefix("Invariant ").and_then(leading_number) {
                defs.entry((Kind::Invariant, n)).or_default().push(at.clone());
            }
        }
        if page.ends_with("claims.md") {
            if let Some((n, rest)) = line.strip_prefix('|').map(str::trim_start).and_then(leading_number) {
                if rest.trim_start().starts_with('|') {
                    defs.entry((Kind::Claim, n)).or_default().push(at);
                }
            }
        }
    }
    defs
}

/// Citations whose number has no definition, as "file:line: invariant N".
fn unresolved(citing: &[(String, String)], defs: &Definitions) -> Vec<String> {
    let mut missing = Vec::new();
    for (file, text) in citing {
        for (i, line) in text.lines().enumerate() {
            for (kind, n) in citations_in_line(line) {
                if !defs.contains_key(&(kind, n)) {
                    missing.push(format!("{file}:{}: {kind} {n}", i + 1));
                }
            }
        }
    }
    missing
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors_in(text: &str) -> BTreeSet<String> {
    text.lines().filter(|l| l.starts_with('#')).map(|l| anchor_of(l.trim_start_matches('#'))).collect()
}

/// Relative links `](target)` / `](target#anchor)` / `](#anchor)` in a docs
/// page that point at no file or no heading.
fn broken_links(root: &Path, page: &Path, text: &str) -> Vec<String> {
    let mut broken = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for piece in line.split("](").skip(1) {
            let Some(target) = piece.split(')').next() else { continue };
            if target.contains("://") {
                continue;
            }
            let (file, anchor) = target.split_once('#').map_or((target, None), |(f, a)| (f, Some(a)));
            let path = if file.is_empty() { page.to_path_buf() } else { page.parent().unwrap_or(page).join(file) };
            let at = format!("{}:{}: {target}", page.strip_prefix(root).unwrap_or(page).display(), i + 1);
            match std::fs::read_to_string(&path) {
                Ok(linked) => {
                    if let Some(anchor) = anchor {
                        if !anchors_in(&linked).contains(anchor) {
                            broken.push(format!("{at} (no such heading)"));
                        }
                    }
                }
                Err(_) if path.is_dir() && anchor.is_none() => {}
                Err(e) => broken.push(format!("{at} ({e})")),
            }
        }
    }
    broken
}

/// Repository paths a docs page names in backticks (`hdl/src/core.rs`,
/// `daemon/src/replication/`) that do not exist: the docs say where things
/// live, so a file that moved must take its mention along.
fn missing_paths(root: &Path, page: &Path, text: &str) -> Vec<String> {
    const TOP: &[&str] = &["hdl/", "regmap/", "sim/", "daemon/", "driver/", "tests/", "docs/", ".ci/"];
    let mut missing = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for span in line.split('`').skip(1).step_by(2) {
            if TOP.iter().any(|t| span.starts_with(t)) && !span.contains(char::is_whitespace) && !root.join(span).exists() {
                missing.push(format!("{}:{}: {span}", page.strip_prefix(root).unwrap_or(page).display(), i + 1));
            }
        }
    }
    missing
}

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// Text files under `dir` that may cite, skipping build output and hidden
/// directories other than `.ci`.
fn citing_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("read {}: {e}", dir.display())).path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if name != "target" && (!name.starts_with('.') || name == ".ci") {
                citing_files(&path, out);
            }
        } else if dir.file_name().is_some_and(|d| d == ".ci") || path.extension().and_then(|e| e.to_str()).is_some_and(|e| CITING_EXTENSIONS.contains(&e)) {
            out.push(path);
        }
    }
}

fn docs_pages(root: &Path) -> Vec<PathBuf> {
    let docs = root.join("docs");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&docs)
        .unwrap_or_else(|e| panic!("read {}: {e}", docs.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("read {}: {e}", docs.display())).path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn every_cited_invariant_and_claim_is_defined_in_docs() {
    let root = repo_root();
    let mut defs = Definitions::new();
    for page in docs_pages(&root) {
        let name = page.strip_prefix(&root).unwrap_or(&page).display().to_string();
        for (key, at) in definitions_in(&name, &read(&page)) {
            defs.entry(key).or_default().extend(at);
        }
    }
    let twice: Vec<String> =
        defs.iter().filter(|(_, at)| at.len() > 1).map(|((k, n), at)| format!("{k} {n}: {}", at.join(", "))).collect();
    assert!(twice.is_empty(), "defined more than once in docs/:\n{}", twice.join("\n"));
    assert!(defs.contains_key(&(Kind::Invariant, 1)) && defs.contains_key(&(Kind::Claim, 1)), "docs/ defines no invariants or claims: {defs:?}");

    let mut files = Vec::new();
    citing_files(&root, &mut files);
    files.sort();
    let citing: Vec<(String, String)> = files
        .iter()
        .filter_map(|p| Some((p.strip_prefix(&root).unwrap_or(p).display().to_string(), std::fs::read_to_string(p).ok()?)))
        .collect();
    let cited: usize = citing.iter().map(|(_, t)| t.lines().map(|l| citations_in_line(l).len()).sum::<usize>()).sum();
    let missing = unresolved(&citing, &defs);
    assert!(
        missing.is_empty(),
        "{} of {cited} citations name a number docs/ does not define (an invariant needs a heading \
         `Invariant N — …` in docs/, a claim a row `| N |` in docs/claims.md):\n{}",
        missing.len(),
        missing.join("\n")
    );
    eprintln!("{cited} citations in {} files, all defined in docs/", citing.len());
}

#[test]
fn links_between_docs_pages_resolve() {
    let root = repo_root();
    let broken: Vec<String> = docs_pages(&root).iter().flat_map(|p| broken_links(&root, p, &read(p))).collect();
    assert!(broken.is_empty(), "broken links in docs/:\n{}", broken.join("\n"));
}

#[test]
fn paths_named_in_docs_exist() {
    let root = repo_root();
    let missing: Vec<String> = docs_pages(&root).iter().flat_map(|p| missing_paths(&root, p, &read(p))).collect();
    assert!(missing.is_empty(), "docs/ names files that do not exist:\n{}", missing.join("\n"));
}

#[test]
fn citation_forms_are_all_read() {
    use Kind::{Claim, Invariant};
    assert_eq!(citations_in_line("ACK holdback (claims 1, 11, 18; invariant 1 of the docs)"), vec![(Invariant, 1), (Claim, 1), (Claim, 11), (Claim, 18)]);
    assert_eq!(citations_in_line("Claims 33-35, 23: full"), vec![(Claim, 33), (Claim, 34), (Claim, 35), (Claim, 23)]);
    assert_eq!(citations_in_line("// Invariant 2 and 8: a primary"), vec![(Invariant, 2), (Invariant, 8)]);
    assert_eq!(citations_in_line("invariants 1–3"), vec![(Invariant, 1), (Invariant, 2), (Invariant, 3)]);
    assert_eq!(citations_in_line("claim 32's asynchronous mode"), vec![(Claim, 32)]);
    assert_eq!(citations_in_line("invariant 3, 4 and 5"), vec![(Invariant, 3), (Invariant, 4), (Invariant, 5)]);
    assert_eq!(citations_in_line("invariant 3, which holds"), vec![(Invariant, 3)]);
    assert!(citations_in_line("a disclaimer 4, the claimant 5, an invariant_7 name, invariants hold").is_empty());
}

#[test]
fn an_undefined_number_is_reported() {
    let defs = definitions_in(
        "docs/x.md",
        "## Invariant 1 — A ≤ R\n## Invariant 2 — order\n",
    );
    let claims = definitions_in("docs/claims.md", "| claim | x |\n|---|---|\n| 1 | a |\n| 2 | b |\n");
    let defs: Definitions = defs.into_iter().chain(claims).collect();
    let citing = vec![("src/a.rs".to_string(), "// invariants 1-2, claim 2\n// invariant 3 and claims 1, 7\n".to_string())];
    assert_eq!(unresolved(&citing, &defs), vec!["src/a.rs:2: invariant 3", "src/a.rs:2: claim 7"]);
}

#[test]
fn anchors_follow_github() {
    assert_eq!(anchor_of(" Invariant 3 — the standby resumes from R, not from the primary's rcv_nxt"), "invariant-3--the-standby-resumes-from-r-not-from-the-primarys-rcv_nxt");
    assert_eq!(anchor_of("Relay mode and the `peer` gate"), "relay-mode-and-the-peer-gate");
}

/// What a line says that only resolves outside the repository: the plan and
/// design notes the project started from, and its issue tracker. Outside
/// `docs/` the sentence is written out instead, or an invariant or claim
/// cited. (The patterns are assembled so this file does not match itself.)
fn outside_references(line: &str) -> Vec<String> {
    // The repository's own design pages are named by their path under docs/.
    let lower = line.to_lowercase().replace(&["docs/", "failover", ".md"].concat(), "docs/");
    let mut found: Vec<String> = [["plan", ".md"].concat(), ["failover", ".md"].concat(), ["../", "shared"].concat()]
        .into_iter()
        .filter(|p| lower.contains(p.as_str()))
        .collect();
    let issue = ["issue", " "].concat();
    let mut from = 0;
    while let Some(at) = lower[from..].find(&issue).map(|i| i + from) {
        from = at + issue.len();
        let starts_word = lower[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        if starts_word && lower[from..].starts_with(|c: char| c.is_ascii_digit()) {
            found.push(format!("{issue}N"));
        }
    }
    found
}

#[test]
fn nothing_outside_docs_cites_a_document_or_issue_outside_the_repository() {
    let root = repo_root();
    let mut files = Vec::new();
    citing_files(&root, &mut files);
    let docs = root.join("docs");
    let mut found = Vec::new();
    for path in files.iter().filter(|p| !p.starts_with(&docs)) {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        for (i, line) in text.lines().enumerate() {
            for what in outside_references(line) {
                found.push(format!("{}:{}: {what}", path.strip_prefix(&root).unwrap_or(path).display(), i + 1));
            }
        }
    }
    assert!(found.is_empty(), "references a reader of the repository cannot follow (write the sentence, or cite docs/):\n{}", found.join("\n"));
}

#[test]
fn outside_references_are_recognised() {
    assert_eq!(outside_references(&["// see PLAN", ".md rule 7"].concat()), vec![["plan", ".md"].concat()]);
    assert_eq!(outside_references(&["(Issue", " 4, part 4)"].concat()), vec![["issue", " N"].concat()]);
    assert!(outside_references(&["see docs/failover", ".md"].concat()).is_empty());
    assert_eq!(outside_references(&["see ../design/failover", ".md"].concat()), vec![["failover", ".md"].concat()]);
    assert!(outside_references(&["an issue with 4 frames; tis", "sue 3; invariant 3"].concat()).is_empty());
}
