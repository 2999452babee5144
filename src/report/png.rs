//! PNG copies of the report's SVG charts, for people who paste them elsewhere: resvg renders the
//! same SVG the page holds, with the system's fonts (the generic `sans-serif` the charts ask
//! for is mapped to the first of a few common families that is installed).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use resvg::{tiny_skia, usvg};

/// Families tried, in order, for the charts' `sans-serif`.
const SANS: &[&str] = &["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica"];

/// The system's fonts, loaded once per process (scanning them takes a moment).
fn options() -> &'static usvg::Options<'static> {
    static OPTIONS: OnceLock<usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut o = usvg::Options::default();
        let db = o.fontdb_mut();
        db.load_system_fonts();
        let families: Vec<String> = db.faces().flat_map(|f| f.families.iter().map(|(name, _)| name.clone())).collect();
        match SANS
            .iter()
            .find(|s| families.iter().any(|f| f == *s))
            .map(|s| s.to_string())
            .or(families.first().cloned())
        {
            Some(family) => db.set_sans_serif_family(family),
            None => tracing::warn!("no system fonts found: the PNG charts carry no text (the SVG in report.html does)"),
        }
        o
    })
}

/// Renders `svg` to a PNG file at `path`.
pub fn write_png(svg: &str, path: &Path) -> Result<()> {
    let tree = usvg::Tree::from_str(svg, options()).map_err(|e| anyhow!("chart SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).context("chart size")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.save_png(path).with_context(|| format!("cannot write {}", path.display()))
}
