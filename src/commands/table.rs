//! Plain-text tables for the listing commands (`oath keys`, `oath list`,
//! `cache list`, `config show-profile`): left-aligned columns two spaces
//! apart, no blanks at the ends of lines, as ykman prints its listings. One
//! home, so that every listing lines up the same way.

/// A header line, then one line per row.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    lines(std::iter::once(&header).chain(rows))
}

/// One line per row, no header (a listing of keys and values).
pub fn render_rows(rows: &[Vec<String>]) -> String {
    lines(rows.iter())
}

fn lines<'a>(rows: impl Iterator<Item = &'a Vec<String>> + Clone) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows.clone() {
        if widths.len() < row.len() {
            widths.resize(row.len(), 0);
        }
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(row: &[&str]) -> Vec<String> {
        row.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_header_included() {
        let text = render(
            &["A", "BB"],
            &[cells(&["xyz", "1"]), cells(&["q", "22222"])],
        );
        assert_eq!(text, "A    BB\nxyz  1\nq    22222\n");
    }

    #[test]
    fn lines_end_without_blanks_even_when_the_last_cells_are_empty() {
        let text = render(&["A", "BB", "C"], &[cells(&["q", "", ""])]);
        assert_eq!(text, "A  BB  C\nq\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let text = render_rows(&[cells(&["→→", "x"]), cells(&["abc", "y"])]);
        assert_eq!(text, "→→   x\nabc  y\n");
    }

    #[test]
    fn a_header_with_no_rows_is_one_line_and_no_rows_is_nothing() {
        assert_eq!(render(&["ID", "CODE"], &[]), "ID  CODE\n");
        assert_eq!(render_rows(&[]), "");
    }
}
