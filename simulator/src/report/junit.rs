//! JUnit XML, so a CI system shows a scenario's expectations as tests.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::Report;

/// One test suite per scenario: a test case per expectation (failed when it did
/// not hold, with what was observed) and one per finding. A finding is a
/// passing test case whose system-out holds its message and detail: a finding
/// is information, an expectation is the verdict. A scenario that wants a
/// finding to fail CI says so with an `[[expect]]` on it, and that expectation's
/// test case fails.
pub fn to_junit(r: &Report) -> String {
    let mut suite = TestSuite::new(format!("pxelab.{}", r.scenario));
    for e in &r.expectations {
        let status = if e.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("observed: {}", e.observed));
            s
        };
        let mut case = TestCase::new(format!("line {}: {}", e.line, e.expectation), status);
        case.set_classname(format!("{}.expect", r.scenario));
        case.set_system_out(e.observed.clone());
        suite.add_test_case(case);
    }
    for f in &r.findings {
        let mut case = TestCase::new(
            format!("{}: {}", f.kind, f.message),
            TestCaseStatus::success(),
        );
        case.set_classname(format!("{}.finding", r.scenario));
        let mut out = f.message.clone();
        for line in &f.detail {
            out.push('\n');
            out.push_str(line);
        }
        case.set_system_out(out);
        suite.add_test_case(case);
    }
    document(suite)
}

/// `suite` as a JUnit XML document of pxelab's (`pxelab run` and `pxelab
/// conform` alike). Serialising what quick-junit built cannot fail in
/// practice; if it did, the document says so instead of being empty.
pub(crate) fn document(suite: TestSuite) -> String {
    let mut report = quick_junit::Report::new("pxelab");
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Scenario, find_bundled};
    use crate::world::{RunOptions, run};

    /// lab-vs-production: expectations that hold and a competing-servers finding.
    fn lab_vs_production() -> Report {
        let b = find_bundled("lab-vs-production").expect("bundled");
        let s = Scenario::from_toml(b.source, "lab-vs-production.toml").expect("parses");
        run(&s, RunOptions::default()).expect("runs")
    }

    #[test]
    fn one_case_per_expectation_and_per_finding_and_findings_pass() {
        let r = lab_vs_production();
        assert!(!r.findings.is_empty() && !r.expectations.is_empty());
        let xml = to_junit(&r);
        let cases = xml.matches("<testcase ").count();
        assert_eq!(cases, r.expectations.len() + r.findings.len(), "{xml}");
        assert_eq!(xml.matches(".finding\"").count(), r.findings.len(), "{xml}");
        assert!(!xml.contains("<failure"), "{xml}");
        // The finding's message is in its output too (its name and its
        // system-out), for CI systems that show only a passing case's output.
        let plain: String = r.findings[0]
            .message
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == ' ')
            .collect();
        assert!(plain.len() > 8, "{plain:?}");
        assert!(xml.matches(plain.as_str()).count() >= 2, "{plain}: {xml}");
    }

    #[test]
    fn an_expectation_that_did_not_hold_is_a_failure_with_what_was_observed() {
        let mut r = lab_vs_production();
        r.expectations[0].passed = false;
        r.expectations[0].observed = "nothing booted".into();
        let xml = to_junit(&r);
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("observed: nothing booted"), "{xml}");
    }
}
