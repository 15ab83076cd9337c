//! The report in words: one line per check (✓ / ! / ✗ in colour, `ok` /
//! `warn` / `FAIL` without), its fix below, and a summary that counts the
//! warnings and failures; or the checks as a JSON array.

use super::{Check, Level};

pub(super) fn to_lines(report: &[Check], color: bool) -> String {
    let mut text = String::new();
    for check in report {
        let mark = match (check.level, color) {
            (Level::Ok, true) => "\x1b[32m✓\x1b[0m",
            (Level::Warn, true) => "\x1b[33m!\x1b[0m",
            (Level::Fail, true) => "\x1b[31m✗\x1b[0m",
            (Level::Ok, false) => "ok  ",
            (Level::Warn, false) => "warn",
            (Level::Fail, false) => "FAIL",
        };
        text.push_str(&format!("{mark} {}: {}\n", check.check, check.detail));
        if let Some(fix) = &check.fix {
            let indent = if color { "  " } else { "     " };
            text.push_str(&format!("{indent}fix: {fix}\n"));
        }
    }
    text.push_str(&summary(report));
    text
}

/// "All 12 checks passed." or "12 checks: 10 passed, 1 warning, 1 failed."
fn summary(report: &[Check]) -> String {
    let count = |level| report.iter().filter(|c| c.level == level).count();
    let (passed, warned, failed) = (count(Level::Ok), count(Level::Warn), count(Level::Fail));
    if warned == 0 && failed == 0 {
        return format!("All {passed} checks passed.\n");
    }
    let mut parts = vec![format!("{passed} passed")];
    if warned > 0 {
        parts.push(format!(
            "{warned} warning{}",
            if warned == 1 { "" } else { "s" }
        ));
    }
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    format!("{} checks: {}.\n", report.len(), parts.join(", "))
}

pub(super) fn to_json(report: &[Check]) -> String {
    let mut text = serde_json::to_string(report).unwrap_or_else(|_| "[]".to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Vec<Check> {
        vec![
            Check::pass("one", "fine"),
            Check::warn("two", "no fallback", "add one"),
            Check::fail("three", "broken", "mend it"),
        ]
    }

    #[test]
    fn plain_output_marks_each_level_and_counts_them() {
        let text = to_lines(&report(), false);
        assert_eq!(
            text,
            "ok   one: fine\n\
             warn two: no fallback\n     fix: add one\n\
             FAIL three: broken\n     fix: mend it\n\
             3 checks: 1 passed, 1 warning, 1 failed.\n"
        );
    }

    #[test]
    fn colour_output_marks_each_level_with_a_sign() {
        let text = to_lines(&report(), true);
        assert!(text.contains("\x1b[32m✓\x1b[0m one: fine\n"), "{text}");
        assert!(
            text.contains("\x1b[33m!\x1b[0m two: no fallback\n"),
            "{text}"
        );
        assert!(text.contains("\x1b[31m✗\x1b[0m three: broken\n"), "{text}");
    }

    #[test]
    fn warnings_alone_are_counted_but_nothing_failed() {
        let text = to_lines(&report()[..2], false);
        assert!(text.ends_with("2 checks: 1 passed, 1 warning.\n"), "{text}");
    }

    #[test]
    fn a_passing_report_says_so_at_the_end() {
        let text = to_lines(&[Check::pass("one", "fine")], true);
        assert!(text.ends_with("All 1 checks passed.\n"), "{text}");
    }

    #[test]
    fn json_has_the_level_the_fix_and_ok_false_only_on_failure() {
        let json: serde_json::Value = serde_json::from_str(&to_json(&report())).unwrap();
        assert_eq!(json[0]["level"], "ok");
        assert_eq!(json[1]["level"], "warn");
        assert_eq!(json[2]["level"], "fail");
        assert_eq!(json[0]["fix"], serde_json::Value::Null);
        assert_eq!(json[1]["fix"], "add one");
        assert_eq!(
            [&json[0]["ok"], &json[1]["ok"], &json[2]["ok"]],
            [true, true, false]
        );
    }
}
