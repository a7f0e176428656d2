//! Plain-text output helpers. Chinese names take two terminal columns per
//! character, so columns are padded by display width, not by `char` count.

/// Approximate terminal width of a character: 2 for East Asian wide and
/// full-width ranges, 1 otherwise. Enough to align category and cell tables.
fn char_width(c: char) -> usize {
    let c = c as u32;
    let wide = matches!(c,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `s` followed by spaces up to `cols` display columns.
pub fn pad(s: &str, cols: usize) -> String {
    let mut out = s.to_owned();
    out.extend(std::iter::repeat_n(' ', cols.saturating_sub(width(s))));
    out
}

/// The first `cols` display columns of `s` on one line, with `…` if cut.
pub fn excerpt(s: &str, cols: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if width(&one_line) <= cols {
        return one_line;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in one_line.chars() {
        if used + char_width(c) > cols.saturating_sub(1) {
            break;
        }
        used += char_width(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// Renders rows as columns separated by two spaces, the last column unpadded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| width(c))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == last {
                    cell.clone()
                } else {
                    pad(cell, widths[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_wide_characters_by_columns() {
        assert_eq!(width("上水井盖"), 8);
        assert_eq!(pad("井盖", 6), "井盖  ");
        assert_eq!(excerpt("manhole cover missing", 10), "manhole c…");
        assert_eq!(excerpt("多行\n文本", 20), "多行 文本");
        let t = table(&[
            vec!["a".into(), "上水".into(), "x".into()],
            vec!["bbb".into(), "c".into(), "y".into()],
        ]);
        assert_eq!(t, "a    上水  x\nbbb  c     y\n");
    }
}
