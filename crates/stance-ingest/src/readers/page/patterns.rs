//! The recognisable lines of a scraped comment page: comment headers
//! (`• Author // 21.09.2024 à 09h37`), dates in the site header, comment counts, the
//! "recommended" marker, footer boilerplate, reply buttons and photo credits.

use regex::Regex;
use std::sync::LazyLock;

/// A date found in a line, and where its match ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateParts {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// A parsed comment header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub bullet: bool,
    pub author: String,
    pub date: DateParts,
    pub time: Option<(u32, u32, u32)>,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static pattern")
}

static NUMERIC_DATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})\b"));
static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{4})-(\d{2})-(\d{2})"));
static DAY_MONTH_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(\d{1,2})(?:er|st|nd|rd|th)?[.\s]+([^\W\d_]{3,})\.?[.\s]+(\d{4})"));
static MONTH_NAME_DAY: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})"));

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:([•◦▪▫‣⁃●○■□►▸*+\-–—])\s+)?(\S.{0,79}?)\s+(?://|\||·)\s+(?i:(?:le|on|am|el|il)\s+)?(.{6,60}?)\s*$",
    )
});
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:,|à|a|at|um|alle|-|–|—|/)?\s*(\d{1,2})\s*[h:]\s*(\d{2})(?:\s*:\s*(\d{2}))?(?:\s*([ap])\.?\s*m\.?)?$",
    )
});
static COUNT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\d+\s+(?:réactions?|commentaires?|comments?|reactions?|réponses?|replies|responses?|kommentare?|comentarios?|commenti)\b",
    )
});
static RECOMMENDED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:commentaires?\s+recommandés?|commentaires?\s+à\s+la\s+une|recommended(?:\s+comments?)?|featured\s+comments?|top\s+comments?|meilleurs?\s+commentaires?|coups?\s+de\s+c(?:œ|oe)ur|empfohlene\s+kommentare|comentarios?\s+destacados?)\s*:?$",
    )
});
static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:(?:afficher|voir|charger|lire)\s+(?:tous\s+les\s+|plus\s+de\s+|la\s+suite\s+des\s+)?commentaires|(?:show|view|load|see)\s+(?:all|more)\s+comments|[ée]crire\s+un\s+commentaire|laisser\s+une?\s+(?:commentaire|réponse)|(?:leave|post|add|write)\s+a\s+(?:comment|reply)|votre\s+adresse\s+(?:e-?mail|de\s+messagerie|électronique)|your\s+email\s+address|charte\s+de\s+modération|(?:se\s+connecter|connectez-vous)\s+pour\s+commenter|log\s+in\s+to\s+comment)",
    )
});
static REPLY_BUTTON: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:répondre|repondre|reply|signaler|report|partager|share|j['’]aime|like|citer|quote)(?:\s*\(?\d+\)?)?$",
    )
});
static CREDIT_END: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:Getty\s*Images|AFP|Reuters|Associated\s+Press|AP\s+Photo|\bAP|EPA(?:-EFE)?|Bloomberg|Shutterstock|Sipa(?:\s+Press)?|Wikimedia\s+Commons|Wikipedia|Alamy|Xinhua|Anadolu|ANSA|dpa|Keystone|Abaca(?:press)?|Hans\s+Lucas|\bDR|©[^.]*)\s*$",
    )
});
static CREDIT_START: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^(?:photo|photos|crédits?(?:\s+photo)?|credits?|image|illustration|©)\s*:")
});
static SOURCE_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^sources?\s*:\s*(.+)$"));
static BYLINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:Par|By|Von|Por|Di|Door)\s+(\p{Lu}.{1,80})$"));
static TRAILER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:traduit\s+par|traduction\s*:|translated\s+by|übersetzt\s+von)|\[(?:lire\s+plus|read\s+more|en\s+savoir\s+plus)\]",
    )
});

fn month_number(name: &str) -> Option<u32> {
    let lower = name.to_lowercase();
    let n = match lower.trim_end_matches('.') {
        "janvier" | "janv" | "jan" | "january" | "januar" | "enero" | "gennaio" => 1,
        "février" | "fevrier" | "févr" | "fevr" | "fév" | "fev" | "feb" | "february"
        | "februar" | "febrero" | "febbraio" => 2,
        "mars" | "mar" | "march" | "märz" | "marzo" => 3,
        "avril" | "avr" | "apr" | "april" | "abril" | "aprile" => 4,
        "mai" | "may" | "mayo" | "maggio" => 5,
        "juin" | "jun" | "june" | "juni" | "junio" | "giugno" => 6,
        "juillet" | "juil" | "jul" | "july" | "juli" | "julio" | "luglio" => 7,
        "août" | "aout" | "aug" | "august" | "agosto" => 8,
        "septembre" | "sept" | "sep" | "september" | "septiembre" | "settembre" => 9,
        "octobre" | "oct" | "october" | "oktober" | "octubre" | "ottobre" => 10,
        "novembre" | "nov" | "november" | "noviembre" => 11,
        "décembre" | "decembre" | "déc" | "dec" | "december" | "dezember" | "diciembre"
        | "dicembre" => 12,
        _ => return None,
    };
    Some(n)
}

fn year(raw: &str) -> Option<i32> {
    let y: i32 = raw.parse().ok()?;
    Some(match raw.len() {
        2 if y < 70 => 2000 + y,
        2 => 1900 + y,
        _ => y,
    })
}

/// The earliest date in `s`: `21.09.2024`, `21/09/24`, `2024-09-21`, `21 septembre 2024`,
/// `21.septembre.2024`, `September 21, 2024`. Returns the date and the byte range it spans.
pub(crate) fn find_date(s: &str) -> Option<(DateParts, usize, usize)> {
    let mut best: Option<(DateParts, usize, usize)> = None;
    let mut consider = |found: Option<(DateParts, usize, usize)>| {
        if let Some(f) = found {
            if best.is_none_or(|b| f.1 < b.1) {
                best = Some(f);
            }
        }
    };
    consider(NUMERIC_DATE.captures_iter(s).find_map(|c| {
        let m = c.get(0)?;
        let date = DateParts {
            day: c[1].parse().ok()?,
            month: c[2].parse().ok()?,
            year: year(&c[3])?,
        };
        valid_parts(date).then_some((date, m.start(), m.end()))
    }));
    consider(ISO_DATE.captures_iter(s).find_map(|c| {
        let m = c.get(0)?;
        let date = DateParts {
            year: c[1].parse().ok()?,
            month: c[2].parse().ok()?,
            day: c[3].parse().ok()?,
        };
        valid_parts(date).then_some((date, m.start(), m.end()))
    }));
    consider(DAY_MONTH_NAME.captures_iter(s).find_map(|c| {
        let m = c.get(0)?;
        let date = DateParts {
            day: c[1].parse().ok()?,
            month: month_number(&c[2])?,
            year: c[3].parse().ok()?,
        };
        valid_parts(date).then_some((date, m.start(), m.end()))
    }));
    consider(MONTH_NAME_DAY.captures_iter(s).find_map(|c| {
        let m = c.get(0)?;
        let date = DateParts {
            month: month_number(&c[1])?,
            day: c[2].parse().ok()?,
            year: c[3].parse().ok()?,
        };
        valid_parts(date).then_some((date, m.start(), m.end()))
    }));
    best
}

/// Plausible ranges only; whether the day exists in that month is checked later (and an
/// impossible one becomes an "unreadable timestamp" warning, not a missed header).
fn valid_parts(d: DateParts) -> bool {
    (1..=12).contains(&d.month) && (1..=31).contains(&d.day) && (1000..=9999).contains(&d.year)
}

/// Reads a comment header line (without its indentation).
pub(crate) fn header(content: &str) -> Option<Header> {
    let caps = HEADER.captures(content)?;
    let when = caps.get(3)?.as_str();
    let (date, start, end) = find_date(when)?;
    if start != 0 {
        return None;
    }
    let rest = when[end..].trim();
    let time = if rest.is_empty() {
        None
    } else {
        let t = TIME.captures(rest)?;
        let mut hour: u32 = t[1].parse().ok()?;
        let minute: u32 = t[2].parse().ok()?;
        let second: u32 = t.get(3).map_or(Some(0), |s| s.as_str().parse().ok())?;
        match t.get(4).map(|m| m.as_str().to_ascii_lowercase()) {
            Some(ap) if ap == "p" && hour < 12 => hour += 12,
            Some(ap) if ap == "a" && hour == 12 => hour = 0,
            _ => {}
        }
        Some((hour, minute, second))
    };
    let author = caps.get(2)?.as_str().trim().to_string();
    Some(Header {
        bullet: caps.get(1).is_some(),
        author,
        date,
        time,
    })
}

pub(crate) fn is_count_line(content: &str) -> bool {
    content.chars().count() <= 80 && COUNT_LINE.is_match(content)
}

pub(crate) fn is_recommended_marker(content: &str) -> bool {
    RECOMMENDED.is_match(content.trim())
}

/// Footer boilerplate that ends the comment list ("Afficher tous les commentaires", "Leave a
/// reply", …), with or without a bullet.
pub(crate) fn is_footer(content: &str) -> bool {
    FOOTER.is_match(strip_bullet(content))
}

pub(crate) fn is_reply_button(content: &str) -> bool {
    REPLY_BUTTON.is_match(content.trim())
}

fn strip_bullet(content: &str) -> &str {
    let mut chars = content.chars();
    match chars.next() {
        Some(
            '•' | '◦' | '▪' | '▫' | '‣' | '⁃' | '●' | '○' | '■' | '□' | '►' | '▸' | '*' | '-' | '–'
            | '—' | '+',
        ) => chars.as_str().trim_start(),
        _ => content,
    }
}

/// Sentence-final punctuation: body paragraphs end with it, captions and buttons do not.
pub(crate) fn ends_sentence(content: &str) -> bool {
    content
        .trim_end()
        .ends_with(['.', '!', '?', '…', ':', ';', '»', '"', '”', ')', ','])
}

/// A photo caption with its credit ("…gouvernementsBuda Mendes/Getty Images", "Photo : AFP").
pub(crate) fn is_photo_credit(content: &str) -> bool {
    CREDIT_START.is_match(content) || (!ends_sentence(content) && CREDIT_END.is_match(content))
}

/// `Source : MSN, Joel Schectman, 28-08-2024` → `MSN, Joel Schectman, 28-08-2024`.
pub(crate) fn source_line(content: &str) -> Option<&str> {
    SOURCE_LINE
        .captures(content)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim())
}

/// `Par Jean Dupont` → `Jean Dupont`.
pub(crate) fn byline(content: &str) -> Option<&str> {
    BYLINE
        .captures(content.trim())
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim())
}

/// Credits and boilerplate that trail an article ("Traduit par …", "[Lire plus]").
pub(crate) fn is_trailer(content: &str) -> bool {
    TRAILER.is_match(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_several_styles() {
        let h = header("• RGT // 21.09.2024 à 09h37").unwrap();
        assert_eq!(
            (h.bullet, h.author.as_str(), h.time),
            (true, "RGT", Some((9, 37, 0)))
        );
        assert_eq!(
            h.date,
            DateParts {
                year: 2024,
                month: 9,
                day: 21
            }
        );
        let h = header("Lt Briggs // 21.09.2024 à 15h53").unwrap();
        assert_eq!((h.bullet, h.author.as_str()), (false, "Lt Briggs"));
        let h = header("- Jane Doe | September 21, 2024 at 9:05 pm").unwrap();
        assert_eq!((h.author.as_str(), h.time), ("Jane Doe", Some((21, 5, 0))));
        let h = header("◦ Marc // le 3 mars 2023, 14:02:09").unwrap();
        assert_eq!((h.date.month, h.time), (3, Some((14, 2, 9))));
        assert!(header("21.septembre.202421.9.2024 // Les Crises").is_none());
        assert!(header("Source : https://www.businessinsider.com/pavel-durov-2013-5").is_none());
        assert!(header("x = 1 // 2 things").is_none());
    }

    #[test]
    fn dates_in_site_headers() {
        let (d, start, _) = find_date("21.septembre.202421.9.2024 // Les Crises").unwrap();
        assert_eq!(
            (d, start),
            (
                DateParts {
                    year: 2024,
                    month: 9,
                    day: 21
                },
                0
            )
        );
        assert_eq!(
            find_date("Publié le 1er mars 2023").unwrap().0,
            DateParts {
                year: 2023,
                month: 3,
                day: 1
            }
        );
        assert_eq!(
            find_date("28-08-2024").unwrap().0,
            DateParts {
                year: 2024,
                month: 8,
                day: 28
            }
        );
        assert!(find_date("Merci 32").is_none());
    }

    #[test]
    fn structural_lines() {
        assert!(is_count_line("7 réactions et commentaires"));
        assert!(is_count_line("12 Comments"));
        assert!(!is_count_line("2024 fut une année"));
        assert!(is_recommended_marker("Commentaire recommandé"));
        assert!(is_footer("• Afficher tous les commentaires"));
        assert!(is_footer("Leave a Reply"));
        assert!(is_reply_button("Répondre"));
        assert!(is_photo_credit("Le fondateur de Telegram a été courtisé et ciblé par les gouvernementsBuda Mendes/Getty Images"));
        assert!(is_photo_credit("Le fondateur de Telegram a été courtisé et ciblé par les gouvernements Associated Press"));
        assert!(!is_photo_credit(
            "Source : MSN, Joel Schectman, Matthew Dalton, Alan Cullison"
        ));
        assert!(!is_photo_credit("Le FBI n’a pas souhaité commenter."));
    }
}
