//! The thin layer over plotters' SVG backend every figure draws through:
//! one canvas type, text and shape helpers, a legend, and the injection of
//! `<title>` tooltips into already drawn cells (plotters has no element for
//! them).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::error::ReportError;
use crate::report::style::{self, FONT, INK};

pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws a `w × h` figure with `draw` and returns the SVG text.
pub(crate) fn render(
    figure: &str,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<(), DrawError>,
) -> Result<String, ReportError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w.max(1), h.max(1))).into_drawing_area();
        let fail = |e: DrawError| ReportError::Draw {
            figure: figure.to_string(),
            reason: e.0,
        };
        root.fill(&style::BACKGROUND)
            .map_err(DrawError::from)
            .map_err(fail)?;
        draw(&root).map_err(fail)?;
        root.present().map_err(DrawError::from).map_err(fail)?;
    }
    Ok(buf)
}

/// A drawing failure, flattened to its message.
#[derive(Debug)]
pub(crate) struct DrawError(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

pub(crate) type Drawn = Result<(), DrawError>;

/// How a piece of text hangs off its anchor point.
#[derive(Clone, Copy)]
pub(crate) enum Anchor {
    Left,
    Right,
    Center,
    /// Horizontally centred, below the point.
    Top,
}

pub(crate) struct TextSpec {
    pub size: f64,
    pub color: RGBColor,
    pub anchor: Anchor,
    /// Read bottom-to-top (rotated 270°), for long labels under a column.
    pub vertical: bool,
    pub bold: bool,
}

impl TextSpec {
    pub fn new(size: f64, anchor: Anchor) -> Self {
        TextSpec {
            size,
            color: INK,
            anchor,
            vertical: false,
            bold: false,
        }
    }
    pub fn color(mut self, c: RGBColor) -> Self {
        self.color = c;
        self
    }
    pub fn vertical(mut self) -> Self {
        self.vertical = true;
        self
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
}

pub(crate) fn text(area: &Area<'_>, s: &str, (x, y): (i32, i32), spec: &TextSpec) -> Drawn {
    let (h, v) = match spec.anchor {
        Anchor::Left => (HPos::Left, VPos::Center),
        Anchor::Right => (HPos::Right, VPos::Center),
        Anchor::Center => (HPos::Center, VPos::Center),
        Anchor::Top => (HPos::Center, VPos::Top),
    };
    let mut font = (FONT, spec.size).into_font();
    if spec.bold {
        font = font.style(FontStyle::Bold);
    }
    if spec.vertical {
        font = font.transform(FontTransform::Rotate270);
    }
    let style = font.color(&spec.color).pos(Pos::new(h, v));
    area.draw(&Text::new(s.to_string(), (x, y), style))?;
    Ok(())
}

pub(crate) fn rect(
    area: &Area<'_>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    color: RGBColor,
) -> Drawn {
    area.draw(&Rectangle::new(
        [(x0.min(x1), y0.min(y1)), (x0.max(x1), y0.max(y1))],
        color.filled(),
    ))?;
    Ok(())
}

pub(crate) fn line(area: &Area<'_>, pts: Vec<(i32, i32)>, color: RGBColor, width: u32) -> Drawn {
    area.draw(&PathElement::new(pts, color.stroke_width(width)))?;
    Ok(())
}

pub(crate) fn polygon(area: &Area<'_>, pts: Vec<(i32, i32)>, color: RGBColor) -> Drawn {
    area.draw(&Polygon::new(pts, color.filled()))?;
    Ok(())
}

pub(crate) fn dot(area: &Area<'_>, (x, y): (i32, i32), r: i32, color: RGBColor) -> Drawn {
    area.draw(&Circle::new((x, y), r, color.filled()))?;
    Ok(())
}

pub(crate) fn ring(area: &Area<'_>, (x, y): (i32, i32), r: i32, color: RGBColor) -> Drawn {
    area.draw(&Circle::new((x, y), r, color.stroke_width(1)))?;
    Ok(())
}

/// The figure title, top left.
pub(crate) fn title(area: &Area<'_>, s: &str) -> Drawn {
    text(
        area,
        s,
        (12, 16),
        &TextSpec::new(style::TITLE, Anchor::Left).bold(),
    )
}

/// What a legend swatch looks like.
#[derive(Clone, Copy)]
pub(crate) enum Swatch {
    Box(RGBColor),
    Line(RGBColor, u32),
}

/// A one-row legend starting at `(x, y)`; wraps to a new row at `max_x`.
/// Returns the y below the legend.
pub(crate) fn legend(
    area: &Area<'_>,
    entries: &[(Swatch, String)],
    (x, y): (i32, i32),
    max_x: i32,
) -> Result<i32, DrawError> {
    let spec = TextSpec::new(style::SMALL, Anchor::Left);
    let (mut cx, mut cy) = (x, y);
    for (swatch, label) in entries {
        let w = 18 + 6 + style::text_width(label, style::SMALL) + 16;
        if cx + w > max_x && cx > x {
            cx = x;
            cy += 18;
        }
        match swatch {
            Swatch::Box(c) => rect(area, (cx, cy - 6), (cx + 14, cy + 6), *c)?,
            Swatch::Line(c, wd) => line(area, vec![(cx, cy), (cx + 18, cy)], *c, *wd)?,
        }
        text(area, label, (cx + 24, cy), &spec)?;
        cx += w;
    }
    Ok(cy + 14)
}

/// Rows of a vertical legend at `(x, y)`, one entry per line.
pub(crate) fn legend_column(
    area: &Area<'_>,
    entries: &[(Swatch, String)],
    (x, y): (i32, i32),
) -> Drawn {
    let spec = TextSpec::new(style::SMALL, Anchor::Left);
    for (i, (swatch, label)) in entries.iter().enumerate() {
        let cy = y + 18 * i as i32;
        match swatch {
            Swatch::Box(c) => rect(area, (x, cy - 6), (x + 14, cy + 6), *c)?,
            Swatch::Line(c, wd) => line(area, vec![(x, cy), (x + 18, cy)], *c, *wd)?,
        }
        text(area, label, (x + 24, cy), &spec)?;
    }
    Ok(())
}

/// A numeric axis with ticks and grid lines along `scale`.
pub(crate) struct AxisSpec<'a> {
    pub scale: style::Scale,
    /// The other coordinate's extent: grid lines run across it.
    pub across: (i32, i32),
    pub label: &'a str,
    pub n_ticks: usize,
    pub percent: bool,
}

/// A horizontal value axis (ticks below `across.1`, grid lines across).
pub(crate) fn x_axis(area: &Area<'_>, a: &AxisSpec<'_>) -> Drawn {
    let ticks = style::nice_ticks(a.scale.d0, a.scale.d1, a.n_ticks);
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    for t in &ticks {
        let x = a.scale.px(*t);
        line(area, vec![(x, a.across.0), (x, a.across.1)], style::GRID, 1)?;
        text(
            area,
            &label_of(*t, step, a.percent),
            (x, a.across.1 + 4),
            &TextSpec::new(style::SMALL, Anchor::Top).color(style::MUTED),
        )?;
    }
    let mid = ((a.scale.r0 + a.scale.r1) / 2.0) as i32;
    text(
        area,
        a.label,
        (mid, a.across.1 + 22),
        &TextSpec::new(style::NORMAL, Anchor::Top),
    )
}

/// A horizontal category axis along `y`, from `across.0` to `across.1`: a
/// tick and a vertical label under each category's centre (`xs[i]`), and
/// `label` centred below the labels (`label_h` tall).
pub(crate) fn category_x_axis(
    area: &Area<'_>,
    labels: &[String],
    xs: impl Fn(usize) -> i32,
    (across, y): ((i32, i32), i32),
    label: &str,
    label_h: i32,
) -> Drawn {
    let (x0, x1) = across;
    line(area, vec![(x0, y), (x1, y)], style::INK, 1)?;
    for (i, l) in labels.iter().enumerate() {
        line(area, vec![(xs(i), y), (xs(i), y + 4)], style::INK, 1)?;
        text(
            area,
            l,
            (xs(i), y + 8),
            &TextSpec::new(style::SMALL, Anchor::Right).vertical(),
        )?;
    }
    text(
        area,
        label,
        ((x0 + x1) / 2, y + 12 + label_h),
        &TextSpec::new(style::NORMAL, Anchor::Top),
    )
}

/// A vertical value axis (labels left of `across.0`, grid lines across).
pub(crate) fn y_axis(area: &Area<'_>, a: &AxisSpec<'_>) -> Drawn {
    let ticks = style::nice_ticks(
        a.scale.d0.min(a.scale.d1),
        a.scale.d0.max(a.scale.d1),
        a.n_ticks,
    );
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    let mut widest = 0;
    for t in &ticks {
        let y = a.scale.px(*t);
        line(area, vec![(a.across.0, y), (a.across.1, y)], style::GRID, 1)?;
        let l = label_of(*t, step, a.percent);
        widest = widest.max(style::text_width(&l, style::SMALL));
        text(
            area,
            &l,
            (a.across.0 - 6, y),
            &TextSpec::new(style::SMALL, Anchor::Right).color(style::MUTED),
        )?;
    }
    let mid = ((a.scale.r0 + a.scale.r1) / 2.0) as i32;
    text(
        area,
        a.label,
        (a.across.0 - widest - 14, mid),
        &TextSpec::new(style::NORMAL, Anchor::Center).vertical(),
    )
}

fn label_of(v: f64, step: f64, percent: bool) -> String {
    if percent {
        format!("{}%", style::tick_label(v * 100.0, step * 100.0))
    } else {
        style::tick_label(v, step)
    }
}

/// Adds `<title>` tooltips to the filled rectangles plotters drew whose top
/// left corner is a key of `titles`. Every title must find its rectangle,
/// so a layout change that breaks the match fails loudly in tests.
pub(crate) fn attach_titles(
    figure: &str,
    svg: String,
    titles: &BTreeMap<(i32, i32), String>,
) -> Result<String, ReportError> {
    let mut out =
        String::with_capacity(svg.len() + titles.values().map(|t| t.len() + 16).sum::<usize>());
    let mut used = 0usize;
    let mut rest = svg.as_str();
    while let Some(i) = rest.find("<rect ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = match tail.find("/>") {
            Some(e) => e,
            None => break,
        };
        let tag = &tail[..end];
        match rect_origin(tag).and_then(|k| titles.get(&k)) {
            Some(t) => {
                used += 1;
                out.push_str(tag);
                out.push_str("><title>");
                out.push_str(&escape(t));
                out.push_str("</title></rect>");
            }
            None => {
                out.push_str(tag);
                out.push_str("/>");
            }
        }
        rest = &tail[end + 2..];
    }
    out.push_str(rest);
    if used != titles.len() {
        return Err(ReportError::figure(
            figure,
            format!(
                "{} of {} tooltips found their cell; the cell layout and the tooltip positions disagree",
                used,
                titles.len()
            ),
        ));
    }
    Ok(out)
}

fn rect_origin(tag: &str) -> Option<(i32, i32)> {
    let attr = |name: &str| -> Option<i32> {
        let key = format!(" {name}=\"");
        let s = tag.find(&key)? + key.len();
        let e = tag[s..].find('"')? + s;
        tag[s..e].parse().ok()
    };
    if !tag.contains("stroke=\"none\"") {
        return None;
    }
    Some((attr("x")?, attr("y")?))
}

/// XML/HTML text escaping.
pub(crate) fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}
