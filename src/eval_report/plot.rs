//! DET curves (FNMR against FMR, both on log axes) drawn with plotters.

use std::path::Path;

use anyhow::Context;
use idauth_match::eval::SetEvaluation;
use plotters::prelude::*;

/// Rates below this are drawn at this value (log axes cannot show zero).
const FLOOR: f64 = 1e-4;

pub fn det_curves(path: &Path, results: &[SetEvaluation]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE).context("drawing background")?;
    let mut chart = ChartBuilder::on(&root)
        .caption("DET curves (all pairs within each set)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((FLOOR..1.0).log_scale(), (FLOOR..1.0).log_scale())
        .context("building chart")?;
    chart
        .configure_mesh()
        .x_desc("FMR (false match rate)")
        .y_desc("FNMR (false non-match rate)")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .context("drawing axes")?;
    for (index, result) in results.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        let points = result
            .rates
            .det_points()
            .into_iter()
            .map(|(fmr, fnmr)| (fmr.max(FLOOR), fnmr.max(FLOOR)));
        let eer = result.rates.eer();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .context("drawing curve")?
            .label(format!("{} (EER {:.2}%)", result.name, 100.0 * eer))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .draw_series(LineSeries::new(
            [(FLOOR, FLOOR), (1.0, 1.0)],
            BLACK.mix(0.3),
        ))
        .context("drawing EER line")?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .context("drawing legend")?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
