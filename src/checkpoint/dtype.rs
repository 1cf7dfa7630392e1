//! Decoding of the floating-point dtypes gates are stored in (F32, F16,
//! BF16, F64), little-endian as safetensors requires. Works on unaligned
//! bytes, since tensors in a memory map need not be aligned.

use safetensors::tensor::Dtype;

/// Decodes `bytes` of `dtype` to f64; `None` for dtypes that are not one of
/// the four float types.
pub fn decode(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        Dtype::F16 => {
            // Bits first, then half's slice conversion (F16C instructions
            // where the CPU has them): a third of a 500-task file's
            // reading time went to converting one value at a time.
            use half::slice::HalfFloatSliceExt;
            let bits: Vec<half::f16> = bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
                .collect();
            let mut out = vec![0.0; bits.len()];
            bits.convert_to_f64_slice(&mut out);
            out
        }
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        _ => return None,
    })
}

pub fn is_float(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_known_bit_patterns() {
        // numpy: np.array([1.0, -2.5], '<f2').tobytes() == b'\x00<\x00\xc1'
        assert_eq!(decode(Dtype::F16, b"\x00<\x00\xc1"), Some(vec![1.0, -2.5]));
        // torch.tensor([1.0, -2.5], dtype=torch.bfloat16).view(torch.int16) -> [16256, -16352]
        let b: Vec<u8> = [16256i16, -16352]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(decode(Dtype::BF16, &b), Some(vec![1.0, -2.5]));
        assert_eq!(decode(Dtype::F32, &0.25f32.to_le_bytes()), Some(vec![0.25]));
        assert_eq!(decode(Dtype::F64, &0.1f64.to_le_bytes()), Some(vec![0.1]));
        assert_eq!(decode(Dtype::I64, &[0; 8]), None);
    }
}
