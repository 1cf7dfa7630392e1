//! Rasterised cells for figures too large to draw as vector shapes: an
//! `n × n` heatmap of 500 tasks is 250 000 `<rect>`s (40 MB of SVG per run),
//! but 250 000 pixels of one PNG (tens of kB, deflated). The PNG goes into
//! the SVG as a `data:` URI, so the page stays one self-contained file.

/// An 8-bit RGB PNG of `width × height` pixels, rows top to bottom.
pub fn png_rgb(width: u32, height: u32, pixels: &[[u8; 3]]) -> Vec<u8> {
    debug_assert_eq!(pixels.len(), (width as usize) * (height as usize));
    // Each scanline: filter byte 0 (none), then its RGB triples.
    let mut raw = Vec::with_capacity(pixels.len() * 3 + height as usize);
    for row in pixels.chunks(width.max(1) as usize) {
        raw.push(0u8);
        for p in row {
            raw.extend_from_slice(p);
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filters, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    png.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// An SVG `<image>` element showing `png` in the box `(x, y, w, h)`, its
/// pixels kept sharp when scaled.
pub fn svg_image(png: &[u8], (x, y, w, h): (i32, i32, i32, i32)) -> String {
    format!(
        "<image x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>\n",
        base64(png)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        // python3 -c "import base64; print([base64.b64encode(s) for s in (b'', b'f', b'fo', b'foo', b'foob')])"
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn png_round_trips_its_pixels() {
        let px: Vec<[u8; 3]> = (0..6u8).map(|i| [i, 2 * i, 255 - i]).collect();
        let png = png_rgb(3, 2, &px);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[16..24], &[0, 0, 0, 3, 0, 0, 0, 2]);
        // IHDR's CRC: python3 -c "import zlib; print(hex(zlib.crc32(b'IHDR' + bytes([0,0,0,3,0,0,0,2,8,2,0,0,0]))))"
        assert_eq!(&png[29..33], &0x1216_f14du32.to_be_bytes());
        let len = u32::from_be_bytes([png[33], png[34], png[35], png[36]]) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&png[41..41 + len]).unwrap();
        assert_eq!(
            raw,
            [
                0, 0, 0, 255, 1, 2, 254, 2, 4, 253, 0, 3, 6, 252, 4, 8, 251, 5, 10, 250
            ]
        );
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
    }
}
