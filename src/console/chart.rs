//! The run-history chart: duration and changes per run, drawn as inline SVG on the server
//! (no script, no external service).

use maud::{html, Markup};

use crate::admin::views::RunView;

const WIDTH: f64 = 760.0;
const PANEL: f64 = 90.0;
const LEFT: f64 = 48.0;
const GAP: f64 = 26.0;

/// What one run contributes.
#[derive(Debug, Clone, Copy)]
struct Point {
    seconds: f64,
    changes: f64,
    failed: bool,
}

fn changes(r: &RunView) -> i64 {
    let c = &r.counts;
    c.created
        + c.updated
        + c.deactivated
        + c.reactivated
        + c.purged
        + c.groups_changed
        + c.memberships_added
        + c.memberships_removed
}

/// A duration for the scale: milliseconds below a second.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

/// The chart of `runs` (newest first, as the store lists them), oldest on the left.
pub fn runs_chart(runs: &[RunView], days: i64) -> Markup {
    let points: Vec<Point> = runs
        .iter()
        .rev()
        .filter_map(|r| {
            let end = r.finished_at?;
            Some(Point {
                seconds: (end - r.started_at).num_milliseconds().max(0) as f64 / 1000.0,
                changes: changes(r) as f64,
                failed: r.status == "failed",
            })
        })
        .collect();
    if points.is_empty() {
        return html! { p.muted { "No finished run in the last " (days) " days." } };
    }
    let height = 2.0 * PANEL + GAP + 22.0;
    let max_s = points.iter().map(|p| p.seconds).fold(0.001, f64::max);
    let max_c = points.iter().map(|p| p.changes).fold(1.0, f64::max);
    let step = (WIDTH - LEFT - 8.0) / points.len() as f64;
    let bar = (step * 0.7).clamp(1.0, 18.0);
    let x = |i: usize| LEFT + step * i as f64 + (step - bar) / 2.0;
    let top_base = PANEL + 4.0;
    let low_base = 2.0 * PANEL + GAP + 4.0;
    html! {
        svg.chart role="img" aria-label="Run history: duration and changes per run"
            viewBox={ "0 0 " (WIDTH) " " (height) } width="100%" {
            text x="0" y="12" { "duration" }
            text x="0" y="26" { (seconds(max_s)) }
            line x1=(LEFT) y1=(top_base) x2=(WIDTH) y2=(top_base) stroke="#c3c9d4" {}
            text x="0" y=(PANEL + GAP + 12.0) { "changes" }
            text x="0" y=(PANEL + GAP + 26.0) { (max_c) }
            line x1=(LEFT) y1=(low_base) x2=(WIDTH) y2=(low_base) stroke="#c3c9d4" {}
            @for (i, p) in points.iter().enumerate() {
                @let h = (p.seconds / max_s * (PANEL - 8.0)).max(1.0);
                rect x=(x(i)) y=(top_base - h) width=(bar) height=(h)
                    fill=(if p.failed { "#b3261e" } else { "#1f5fa8" }) {
                    title { (format!("{:.2}s", p.seconds)) }
                }
                @let h = (p.changes / max_c * (PANEL - 8.0)).max(if p.changes > 0.0 { 1.0 } else { 0.0 });
                rect x=(x(i)) y=(low_base - h) width=(bar) height=(h) fill="#1f7a3d" {
                    title { (p.changes) " changes" }
                }
            }
            text x=(LEFT) y=(height - 4.0) { "oldest" }
            text x=(WIDTH - 40.0) y=(height - 4.0) { "newest" }
        }
        p.legend.muted {
            span { span.sw.dur {} "duration" }
            span { span.sw.fail {} "failed run" }
            span { span.sw.chg {} "changes applied" }
            span { (points.len()) " runs, last " (days) " days" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::views::RunCounts;

    fn run(id: i64, seconds: i64, created: i64, status: &str) -> RunView {
        let start = chrono::DateTime::from_timestamp(1_800_000_000 + id * 3600, 0).unwrap_or_default();
        RunView {
            run_id: id,
            connector: "hr".into(),
            mode: "scheduled".into(),
            status: status.into(),
            started_at: start,
            finished_at: Some(start + chrono::Duration::seconds(seconds)),
            counts: RunCounts {
                created,
                ..RunCounts::default()
            },
            error: None,
            held_changes: None,
        }
    }

    #[test]
    fn one_bar_per_run_scaled_to_the_largest() {
        let runs = [
            run(3, 4, 0, "failed"),
            run(2, 2, 5, "succeeded"),
            run(1, 1, 10, "succeeded"),
        ];
        let svg = runs_chart(&runs, 7).into_string();
        assert_eq!(svg.matches("<rect").count(), 6, "{svg}");
        assert!(svg.contains("4.0 s"), "the duration scale: {svg}");
        assert!(svg.contains("#b3261e"), "the failed run is red: {svg}");
        assert!(svg.contains("<title>10 changes</title>"), "{svg}");
        // SVG elements in HTML must be closed explicitly, or what follows nests in them.
        assert_eq!(
            svg.matches("<line").count(),
            svg.matches("</line>").count(),
            "{svg}"
        );
        assert!(runs_chart(&[], 7).into_string().contains("No finished run"));
    }
}
