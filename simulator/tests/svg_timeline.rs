//! `--svg`: the timeline of a run is well-formed XML, draws a row per client
//! for a small run and a band per fleet for a large one, frames boot loops,
//! is the same bytes for the same run, and leaves the report untouched.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use pxelab_simulator::report::Report;
use pxelab_simulator::scenario::find_bundled;
use pxelab_simulator::world::{RunOptions, run};

/// A sink the test reads back after the run consumed the box.
#[derive(Clone, Default)]
struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs a bundled scenario with a timeline; returns the report and the SVG.
fn timeline(name: &str) -> (Report, String) {
    let sc = find_bundled(name)
        .unwrap_or_else(|| panic!("{name} is bundled"))
        .scenario()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let buf = SharedBuf::default();
    let report = run(
        &sc,
        RunOptions {
            svg: Some(Box::new(buf.clone())),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let svg = String::from_utf8(buf.0.borrow().clone()).expect("the SVG is UTF-8");
    (report, svg)
}

/// Parses `svg` as XML (every tag closed, attributes quoted, entities
/// known) and returns the element names in document order.
fn elements(svg: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut names = Vec::new();
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::Empty(e)) => {
                names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Text(t)) => {
                t.decode().expect("text decodes");
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "not well-formed XML at byte {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    assert_eq!(depth, 0, "unbalanced tags");
    assert_eq!(names.first().map(String::as_str), Some("svg"));
    names
}

/// Client rows are labelled `fleet#index` in a text element of their own.
fn row_label(name: &str) -> String {
    format!(r#"text-anchor="end">{name}</text>"#)
}

#[test]
fn a_small_run_has_a_row_per_client_and_frames_its_loops() {
    let (report, svg) = timeline("ipxe-chainload-loop");
    elements(&svg);
    for fleet in &report.fleets {
        for i in 0..fleet.count {
            let label = row_label(&format!("{}#{i}", fleet.name));
            assert_eq!(svg.matches(&label).count(), 1, "one row for {label}");
        }
    }
    // rack-a's four clients loop on undionly.kpxe; rack-b's boot.
    assert_eq!(svg.matches(r#"rx="3"><title>boot loop from"#).count(), 4);
    assert!(svg.contains("⟳ loop ×3: undionly.kpxe from naive-dhcp"));
    assert_eq!(
        svg.matches(r##"fill="#1a6b2a">booted boot.ipxe from pxelab at"##)
            .count(),
        4
    );
    // Every stage of an iPXE chainload is drawn, and servers' answers carry
    // the server's name.
    for stage in ["<title>DHCP: ", "<title>TFTP: ", "<title>NBP: "] {
        assert!(svg.contains(stage), "{stage} missing");
    }
    assert!(svg.contains("offer from naive-dhcp: "));
    assert!(svg.contains("offer from pxelab: "));
}

#[test]
fn groundhog_day_frames_the_agent_loop_with_its_cycle() {
    let (_, svg) = timeline("groundhog-day");
    elements(&svg);
    // xp-6x's two machines loop; xp-ref's stay in Windows.
    assert_eq!(svg.matches(r#"rx="3"><title>boot loop from"#).count(), 2);
    assert!(svg.contains("AClient arms the boot flag for a scripted-install job and reboots"));
    for stage in [
        "<title>Bootworks: ",
        "<title>OS: ",
        "<title>POST / reboot: ",
    ] {
        assert!(svg.contains(stage), "{stage} missing");
    }
    assert_eq!(svg.matches(r##"fill="#1a6b2a">up in "##).count(), 2);
}

#[test]
fn a_large_run_draws_a_band_per_fleet_the_same_every_time() {
    let (report, svg) = timeline("boot-storm-1000");
    let names = elements(&svg);
    assert!(report.fleets.iter().map(|f| f.count).sum::<u32>() > 50);
    // No client rows, one band (its grey background) per fleet.
    assert!(!svg.contains("#0</text>"), "a client row in a large run");
    assert_eq!(
        svg.matches(r##"fill="#f7f7f7""##).count(),
        report.fleets.len()
    );
    for fleet in &report.fleets {
        assert!(svg.contains(&format!(">{}</text>", fleet.name)));
        assert!(svg.contains(&format!("booted {}/{}", fleet.booted, fleet.count)));
    }
    assert!(svg.contains("clients on average"));
    // Bounded by buckets, not by clients or events.
    assert!(names.len() < 20_000, "{} elements", names.len());
    let (_, again) = timeline("boot-storm-1000");
    assert!(svg == again, "same run, different SVG bytes");
}

#[test]
fn the_timeline_only_watches() {
    let sc = find_bundled("ipxe-chainload-loop")
        .expect("bundled")
        .scenario()
        .expect("parses");
    let plain = run(&sc, RunOptions::default()).expect("runs");
    let (with_svg, svg) = timeline("ipxe-chainload-loop");
    assert_eq!(plain, with_svg, "recording a timeline changed the run");
    let (_, again) = timeline("ipxe-chainload-loop");
    assert!(svg == again, "same run, different SVG bytes");
}
