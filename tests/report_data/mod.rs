//! Synthetic, seeded inputs for the report tests: CelebA's 40 attribute
//! names (the longest labels the figures must keep legible) and small
//! deterministic pseudo-random numbers.
#![allow(dead_code)]

pub const CELEBA: [&str; 40] = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
];

pub fn celeba() -> Vec<String> {
    CELEBA.iter().map(|s| s.to_string()).collect()
}

/// SplitMix64: tiny, seeded, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.f().max(1e-12);
        let v = self.f();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Where test artifacts go: `target/report-artifacts/<sub>`.
pub fn artifact_dir(sub: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("report-artifacts")
        .join(sub);
    std::fs::create_dir_all(&d).expect("create artifact dir");
    d
}

use mtl_inspect::ImportanceMatrix;
use mtl_inspect::checkpoint::Checkpoint;
use mtl_inspect::checkpoint::discover::{DiscoverParams, Gates, discover_gates};
use mtl_inspect::importance::from_gates::ImportanceParams;
use mtl_inspect::pipeline::{ReportParams, RunSource, collect};
use mtl_inspect::report::ReportFile;
use mtl_inspect::report::provenance::ToolInfo;
use mtl_inspect::report::{ReportInputs, build_report};

/// A checkpoint loaded the way the CLI loads it.
pub struct Loaded {
    pub name: String,
    pub path: std::path::PathBuf,
    pub gates: Gates,
    pub importance: ImportanceMatrix,
}

pub fn load(rel: &str) -> Loaded {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    let c = Checkpoint::open(&path).expect("open fixture");
    let gates = discover_gates(&c, &DiscoverParams::default()).expect("discover");
    let (importance, _) = gates
        .importance(&ImportanceParams::default())
        .expect("importance");
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Loaded {
        name,
        path,
        gates,
        importance,
    }
}

/// The first `runs` CelebA-shaped fixture runs (40 tasks, 2880 filters).
pub fn celeba_runs(runs: usize) -> Vec<Loaded> {
    (0..runs)
        .map(|r| load(&format!("celeba40/run{r}.safetensors")))
        .collect()
}

/// Report inputs with the paper's parameters; `filter_groups` off skips
/// the slowest analysis (k-means over every filter) in tests that do not
/// look at it.
pub fn inputs(runs: &[Loaded], k: usize, filter_groups: bool) -> ReportInputs {
    let sources: Vec<RunSource> = runs
        .iter()
        .map(|l| RunSource {
            name: &l.name,
            path: &l.path,
            gates: &l.gates,
            importance: &l.importance,
            gate_override: None,
        })
        .collect();
    let mut params = ReportParams::paper("CelebA-shaped fixtures", k).expect("params");
    if !filter_groups {
        params = params.with_filter_groups(None);
    }
    let tool = ToolInfo::this_tool(vec![
        "mtl-inspect".into(),
        "report".into(),
        "fixtures/celeba40/run0.safetensors".into(),
        "fixtures/celeba40/run1.safetensors".into(),
        "--out".into(),
        "reports/celeba40".into(),
    ]);
    collect(&sources, &params, tool).expect("collect")
}

pub fn report(runs: &[Loaded], k: usize, filter_groups: bool) -> Vec<ReportFile> {
    build_report(&inputs(runs, k, filter_groups)).expect("build report")
}

/// Writes `files` under `dir` (fresh), returning `dir/index.html`.
pub fn write_report(dir: &std::path::Path, files: &[ReportFile]) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create report dir");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write report file");
    }
    dir.join("index.html")
}
