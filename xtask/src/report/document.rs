//! The report as a document of blocks, rendered twice: as Markdown for
//! GitHub (`REPORT.md`, images linked) and as one self-contained HTML page
//! (`index.html`, images inlined as base64 PNG data).
//!
//! Text in blocks is a small subset of Markdown: `code` spans and
//! `[text](relative/link)`; the HTML renderer converts those two and escapes
//! everything else.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use base64::prelude::{BASE64_STANDARD, Engine as _};

/// One block of the report.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A heading; level 1 is the title.
    Heading {
        /// 1 to 4.
        level: u8,
        /// The heading's text.
        text: String,
        /// In HTML, a level-2 section that starts folded (`<details>`) down to the next level-2 heading.
        folded: bool,
    },
    /// A paragraph.
    Paragraph(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table with a header row.
    Table {
        /// The column names.
        header: Vec<String>,
        /// The rows, each as long as the header.
        rows: Vec<Vec<String>>,
    },
    /// A plot: its PNG (shown) and SVG (linked), relative to the report.
    Figure {
        /// `plots/<stem>.png`.
        png: String,
        /// `plots/<stem>.svg`.
        svg: String,
        /// What it shows.
        caption: String,
    },
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    /// The blocks in order.
    pub blocks: Vec<Block>,
}

impl Document {
    /// Adds a heading.
    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading { level, text: text.into(), folded: false });
    }

    /// Adds a level-2 heading whose section the HTML page folds (`<details>`), for long detail sections.
    pub fn folded_heading(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Heading { level: 2, text: text.into(), folded: true });
    }

    /// Adds a paragraph.
    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }

    /// Adds a list, unless it is empty.
    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    /// Adds a table.
    pub fn table(&mut self, header: Vec<String>, rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table { header, rows });
    }

    /// Adds a figure whose files are `plots/<stem>.png` and `.svg`.
    pub fn figure(&mut self, stem: &str, caption: impl Into<String>) {
        self.blocks.push(Block::Figure {
            png: format!("plots/{stem}.png"),
            svg: format!("plots/{stem}.svg"),
            caption: caption.into(),
        });
    }

    /// The document as GitHub Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for block in &self.blocks {
            match block {
                Block::Heading { level, text, .. } => {
                    let _ = writeln!(out, "{} {text}\n", "#".repeat(usize::from(*level)));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "{text}\n");
                }
                Block::List(items) => {
                    for item in items {
                        let _ = writeln!(out, "- {item}");
                    }
                    out.push('\n');
                }
                Block::Table { header, rows } => {
                    let cell = |text: &String| text.replace('|', "\\|");
                    let _ = writeln!(out, "| {} |", header.iter().map(cell).collect::<Vec<_>>().join(" | "));
                    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
                    for row in rows {
                        let _ = writeln!(out, "| {} |", row.iter().map(cell).collect::<Vec<_>>().join(" | "));
                    }
                    out.push('\n');
                }
                Block::Figure { png, svg, caption } => {
                    let _ = writeln!(out, "![{}]({png})\n", caption.replace(['[', ']'], ""));
                    let _ = writeln!(out, "{caption} ([SVG]({svg}))\n");
                }
            }
        }
        out
    }

    /// The document as one HTML page; figures are read from `dir` and inlined
    /// while the page stays under [`HTML_BUDGET`] (later ones are then linked,
    /// and say so). A table of contents follows the title; level-2 sections
    /// marked folded are collapsible `<details>`.
    pub fn to_html(&self, dir: &Path, title: &str) -> Result<String> {
        let ids = heading_ids(&self.blocks);
        let mut body = String::new();
        let mut in_details = false;
        let mut inlined_bytes = 0usize;
        let text_bytes: usize = self.to_markdown().len() * 2;
        for (index, block) in self.blocks.iter().enumerate() {
            match block {
                Block::Heading { level, text, folded } => {
                    let level = *level.clamp(&1, &6);
                    let id = &ids[index];
                    if level <= 2 && in_details {
                        body.push_str("</details>\n");
                        in_details = false;
                    }
                    if level == 2 && *folded {
                        let _ = writeln!(
                            body,
                            "<details id=\"{id}\"><summary><h2>{}</h2></summary>",
                            inline_html(text)
                        );
                        in_details = true;
                    } else {
                        let _ = writeln!(body, "<h{level} id=\"{id}\">{}</h{level}>", inline_html(text));
                    }
                    if level == 1 {
                        body.push_str(&table_of_contents(&self.blocks, &ids));
                    }
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(body, "<p>{}</p>", inline_html(text));
                }
                Block::List(items) => {
                    body.push_str("<ul>\n");
                    for item in items {
                        let _ = writeln!(body, "<li>{}</li>", inline_html(item));
                    }
                    body.push_str("</ul>\n");
                }
                Block::Table { header, rows } => {
                    body.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
                    for name in header {
                        let _ = write!(body, "<th>{}</th>", inline_html(name));
                    }
                    body.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        body.push_str("<tr>");
                        for value in row {
                            let _ = write!(body, "<td>{}</td>", inline_html(value));
                        }
                        body.push_str("</tr>\n");
                    }
                    body.push_str("</tbody></table></div>\n");
                }
                Block::Figure { png, svg, caption } => {
                    let path = dir.join(png);
                    let bytes = fs::read(&path).with_context(|| format!("inlining {}", path.display()))?;
                    let encoded = BASE64_STANDARD.encode(&bytes);
                    if text_bytes + inlined_bytes + encoded.len() <= HTML_BUDGET {
                        inlined_bytes += encoded.len();
                        let _ = writeln!(
                            body,
                            "<figure><img alt=\"{}\" src=\"data:image/png;base64,{encoded}\"><figcaption>{}</figcaption></figure>",
                            escape_html(caption),
                            inline_html(caption)
                        );
                    } else {
                        let _ = writeln!(
                            body,
                            "<figure class=\"linked\"><figcaption>{} (not inlined, to keep this page under {} MB: <a href=\"{}\">PNG</a>, <a href=\"{}\">SVG</a> beside it)</figcaption></figure>",
                            inline_html(caption),
                            HTML_BUDGET / 1_000_000 + 1,
                            escape_html(png),
                            escape_html(svg)
                        );
                    }
                }
            }
        }
        if in_details {
            body.push_str("</details>\n");
        }
        Ok(format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}<script>{OPEN_TARGET}</script>\n</body>\n</html>\n",
            escape_html(title)
        ))
    }
}

/// Bytes of text and inlined images `index.html` stays within (a published report must stay under 3 MB).
pub const HTML_BUDGET: usize = 2_800_000;

/// Opens the `<details>` around the target of a link, so that a link into a folded section shows it.
const OPEN_TARGET: &str = "function openTarget(){var e=document.getElementById(decodeURIComponent(location.hash.slice(1)));for(;e;e=e.parentElement){if(e.tagName==='DETAILS'){e.open=true;}}}window.addEventListener('hashchange',openTarget);openTarget();";

/// The anchor of each heading block (empty for other blocks), as GitHub makes
/// them: the slug of the text, `-1`, `-2` … after the first of a kind.
fn heading_ids(blocks: &[Block]) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    blocks
        .iter()
        .map(|block| match block {
            Block::Heading { text, .. } => {
                let base = super::answers::slug(text);
                let count = seen.entry(base.clone()).or_insert(0);
                let id = if *count == 0 { base.clone() } else { format!("{base}-{count}") };
                *count += 1;
                id
            }
            _ => String::new(),
        })
        .collect()
}

/// The table of contents: every level-2 heading, with its level-3 headings where a section has at most 12.
fn table_of_contents(blocks: &[Block], ids: &[String]) -> String {
    let mut out = String::from("<nav class=\"toc\"><strong>Contents</strong>\n<ol>\n");
    let mut open_item = false;
    let sections: Vec<usize> = blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b, Block::Heading { level: 2, .. }))
        .map(|(i, _)| i)
        .collect();
    for (n, &start) in sections.iter().enumerate() {
        let end = sections.get(n + 1).copied().unwrap_or(blocks.len());
        if open_item {
            out.push_str("</li>\n");
        }
        if let Block::Heading { text, .. } = &blocks[start] {
            let _ = write!(out, "<li><a href=\"#{}\">{}</a>", ids[start], inline_html(text));
            open_item = true;
        }
        let subs: Vec<usize> =
            (start + 1..end).filter(|i| matches!(blocks[*i], Block::Heading { level: 3, .. })).collect();
        if !subs.is_empty() && subs.len() <= 12 {
            out.push_str("<ol>");
            for i in subs {
                if let Block::Heading { text, .. } = &blocks[i] {
                    let _ = write!(out, "<li><a href=\"#{}\">{}</a></li>", ids[i], inline_html(text));
                }
            }
            out.push_str("</ol>");
        }
    }
    if open_item {
        out.push_str("</li>\n");
    }
    out.push_str("</ol></nav>\n");
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}\
th{background:#f2f2f2}.scroll{overflow-x:auto}figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{font-size:0.9em;color:#444}code{background:#f4f4f4;padding:0 0.2em}\
.toc{background:#f8f8f8;border:1px solid #ddd;padding:0.6em 1em;margin:1em 0}.toc ol{margin:0.3em 0}\
details{border-top:1px solid #ddd;margin:0.5em 0}summary{cursor:pointer}summary h2{display:inline-block;margin:0.6em 0}\
figure.linked figcaption{font-style:italic}";

/// Escapes `&`, `<`, `>` and `"` for HTML text and double-quoted attributes.
pub fn escape_html(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// Converts the text subset (`code`, `[text](link)`) to HTML, escaping the rest.
pub fn inline_html(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some((code, remaining)) = rest.strip_prefix('`').and_then(|after| after.split_once('`')) {
            let _ = write!(out, "<code>{}</code>", escape_html(code));
            rest = remaining;
            continue;
        }
        if let Some((strong, remaining)) = rest.strip_prefix("**").and_then(|after| after.split_once("**")) {
            let _ = write!(out, "<strong>{}</strong>", inline_html(strong));
            rest = remaining;
            continue;
        }
        if let Some((label, href, remaining)) = rest.strip_prefix('[').and_then(split_link) {
            let _ = write!(out, "<a href=\"{}\">{}</a>", escape_html(href), inline_html(label));
            rest = remaining;
            continue;
        }
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..].find(['`', '[', '*']).map_or(rest.len(), |i| i + first);
        out.push_str(&escape_html(&rest[..next]));
        rest = &rest[next..];
    }
    out
}

/// Splits `label](href)rest` into its parts.
fn split_link(text: &str) -> Option<(&str, &str, &str)> {
    let label_end = text.find("](")?;
    if text[..label_end].contains(['[', ']']) {
        return None;
    }
    let after = &text[label_end + 2..];
    let href_end = after.find(')')?;
    Some((&text[..label_end], &after[..href_end], &after[href_end + 1..]))
}

/// The relative link targets in Markdown text: every `](target)`.
#[cfg(test)]
pub fn markdown_links(markdown: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        links.push(after[..end].to_owned());
        rest = &after[end..];
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_text_becomes_html() {
        let check = |input: &str, expected: &str| assert_eq!(inline_html(input), expected, "{input:?}");
        check("plain", "plain");
        check("a < b & c", "a &lt; b &amp; c");
        check("`cycle+pymalloc` wins", "<code>cycle+pymalloc</code> wins");
        check("see [stderr](failures/x.stderr).", "see <a href=\"failures/x.stderr\">stderr</a>.");
        check("an [unclosed bracket", "an [unclosed bracket");
        check("CI [1x–2x] ([evidence](#e))", "CI [1x–2x] (<a href=\"#e\">evidence</a>)");
        check("**do this**: `x`", "<strong>do this</strong>: <code>x</code>");
        check("a * b", "a * b");
        check("a `lone backtick", "a `lone backtick");
        check("–", "–");
        check("µs – `p99`", "µs – <code>p99</code>");
    }

    #[test]
    fn markdown_renders_tables_lists_and_figures() {
        let mut document = Document::default();
        document.heading(2, "Findings");
        document.list(vec!["one".into(), "two".into()]);
        document.list(vec![]);
        document.table(vec!["a".into(), "b|c".into()], vec![vec!["1".into(), "2".into()]]);
        document.figure("churn-throughput", "Throughput of `churn`");
        let markdown = document.to_markdown();
        assert!(
            markdown.contains("## Findings\n\n- one\n- two\n\n| a | b\\|c |\n|---|---|\n| 1 | 2 |\n"),
            "{markdown}"
        );
        assert!(markdown.contains("![Throughput of `churn`](plots/churn-throughput.png)"));
        assert_eq!(
            markdown_links(&markdown),
            vec!["plots/churn-throughput.png", "plots/churn-throughput.svg"]
        );
    }

    #[test]
    fn html_inlines_figures_and_refers_to_nothing_outside() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("plots")).unwrap();
        fs::write(dir.path().join("plots/x.png"), b"\x89PNG fake").unwrap();
        let mut document = Document::default();
        document.heading(1, "heaplab report");
        document.figure("x", "a <figure>");
        let html = document.to_html(dir.path(), "heaplab report").unwrap();
        assert!(html.contains(&format!("data:image/png;base64,{}", BASE64_STANDARD.encode(b"\x89PNG fake"))));
        assert!(html.contains("a &lt;figure&gt;"));
        assert!(!html.contains("http"));
        document.figure("missing", "gone");
        assert!(document.to_html(dir.path(), "t").is_err(), "a missing plot is an error, not a broken page");
    }
}
