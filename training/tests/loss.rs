//! The mixed loss of a task set with a regression task (shapes' size task,
//! paper App. E) against PyTorch: BCE on logits for the binary columns,
//! squared error for the regression column, averaged over all elements.

use candle_core::{DType, Device, Tensor, Var};
use mtl_train::models::loss::{bce_with_logits, multi_task_loss};

// import torch, torch.nn.functional as F
// z = torch.tensor([[0.5, -1.2, 0.3], [2.0, 0.1, -0.7]], dtype=torch.float64, requires_grad=True)
// y = torch.tensor([[1.0, 0.0, 1.5], [0.0, 1.0, -0.4]], dtype=torch.float64)
// bce = F.binary_cross_entropy_with_logits(z[:, :2], y[:, :2], reduction='none')
// mse = (z[:, 2:] - y[:, 2:])**2
// loss = torch.cat([bce, mse], 1).mean(); loss.backward()
// loss.item(), z.grad.tolist()
const LOSS: f64 = 0.839_780_687_105_780_1;
const GRAD: [f64; 6] = [
    -0.062_923_444_799_690_89,
    0.038_579_202_750_163_73,
    -0.4,
    0.146_799_512_996_313_72,
    -0.079_170_135_420_176_66,
    -0.1,
];

fn inputs() -> (Var, Tensor) {
    let dev = &Device::Cpu;
    let z = Var::from_vec(vec![0.5f64, -1.2, 0.3, 2.0, 0.1, -0.7], (2, 3), dev).unwrap();
    let y = Tensor::from_vec(vec![1.0f64, 0.0, 1.5, 0.0, 1.0, -0.4], (2, 3), dev).unwrap();
    (z, y)
}

#[test]
fn mixed_loss_and_gradient_match_pytorch() {
    let (z, y) = inputs();
    let loss = multi_task_loss(z.as_tensor(), &y, &[false, false, true]).unwrap();
    let got = loss.to_scalar::<f64>().unwrap();
    assert!((got - LOSS).abs() < 1e-12, "loss {got} vs {LOSS}");
    let grads = loss.backward().unwrap();
    let g: Vec<f64> = grads
        .get(z.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for (a, b) in g.iter().zip(GRAD) {
        assert!((a - b).abs() < 1e-12, "{g:?} vs {GRAD:?}");
    }
}

#[test]
fn without_regression_tasks_it_is_bce() {
    let (z, y) = inputs();
    let y01 = y.clamp(0.0, 1.0).unwrap();
    let a = multi_task_loss(z.as_tensor(), &y01, &[false; 3])
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let b = bce_with_logits(z.as_tensor(), &y01)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert_eq!(a, b);
    // f32 as in training.
    let z32 = z.as_tensor().to_dtype(DType::F32).unwrap();
    let y32 = y.to_dtype(DType::F32).unwrap();
    let l = multi_task_loss(&z32, &y32, &[false, false, true])
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((f64::from(l) - LOSS).abs() < 1e-6);
}
