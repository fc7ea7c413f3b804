//! Long lists shown a page at a time: `?offset=` picks the page, and links to the previous and next
//! pages keep the list's other query parameters (a search, a filter).

use maud::{html, Markup};
use serde::Deserialize;

use crate::store::PageRequest;

/// The offset a list page asked for.
#[derive(Deserialize, Default, Clone, Copy)]
pub struct Offset {
    #[serde(default)]
    pub offset: usize,
}

impl Offset {
    pub fn request(self, limit: usize) -> PageRequest {
        PageRequest { offset: self.offset, limit }
    }
}

/// One page of a list: where it is and how to link to another page of it.
pub struct Pager<'a> {
    /// The list's path.
    pub path: &'a str,
    /// The list's other query parameters, kept by the links.
    pub query: &'a [(&'a str, &'a str)],
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    /// What the list holds, singular ("system").
    pub noun: &'a str,
}

impl Pager<'_> {
    fn href(&self, key: &str, offset: usize) -> String {
        let mut pairs: Vec<(&str, String)> =
            self.query.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, (*v).to_owned())).collect();
        if offset > 0 {
            pairs.push((key, offset.to_string()));
        }
        match serde_urlencoded::to_string(&pairs) {
            Ok(query) if !query.is_empty() => format!("{}?{query}", self.path),
            _ => self.path.to_owned(),
        }
    }

    /// "12 systems", or "240 systems: 201–240 shown", with the links to the other pages.
    pub fn render(&self) -> Markup {
        self.render_as("offset")
    }

    /// [`Self::render`] for a page with two lists, each paged by its own query parameter `key`.
    pub fn render_as(&self, key: &str) -> Markup {
        let shown = self.total.saturating_sub(self.offset).min(self.limit);
        let plural = if self.total == 1 { "" } else { "s" };
        let cut = self.offset > 0 || shown < self.total;
        html! {
            p.count {
                (self.total) " " (self.noun) (plural)
                @if cut && shown > 0 { ": " (self.offset + 1) "–" (self.offset + shown) " shown" }
            }
            @if cut {
                nav.pager aria-label=(format!("Pages of {}s", self.noun)) {
                    @if self.offset > 0 {
                        a rel="prev" href=(self.href(key, self.offset.saturating_sub(self.limit))) { "Previous " (self.limit) }
                    }
                    @if self.offset + shown < self.total {
                        a rel="next" href=(self.href(key, self.offset + self.limit)) { "Next " (self.limit) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pager(total: usize, offset: usize) -> String {
        let query = [("q", "board room"), ("driver", "")];
        Pager { path: "/console/systems", query: &query, total, offset, limit: 10, noun: "system" }
            .render()
            .into_string()
    }

    #[test]
    fn a_list_that_fits_shows_its_count_and_no_links() {
        let html = pager(3, 0);
        assert!(html.contains("3 systems"), "{html}");
        assert!(!html.contains("<nav"), "{html}");
    }

    #[test]
    fn a_middle_page_links_both_ways_and_keeps_the_search() {
        let html = pager(25, 10);
        assert!(html.contains("25 systems: 11–20 shown"), "{html}");
        assert!(html.contains(r#"href="/console/systems?q=board+room""#), "{html}");
        assert!(html.contains(r#"href="/console/systems?q=board+room&amp;offset=20""#), "{html}");
    }

    #[test]
    fn the_last_page_has_no_next_link() {
        let html = pager(25, 20);
        assert!(
            html.contains("21–25 shown") && html.contains("rel=\"prev\"") && !html.contains("rel=\"next\""),
            "{html}"
        );
    }
}
