//! JUnit XML, so a CI system shows a scenario's expectations as tests.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::Report;

/// One test suite per scenario: a test case per expectation (failed when it did
/// not hold) and one per finding (passed, with the finding as its output: a
/// finding is information, an expectation is the verdict).
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
        case.set_system_out(f.detail.join("\n"));
        suite.add_test_case(case);
    }
    let mut report = quick_junit::Report::new("pxelab");
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->\n"))
}
