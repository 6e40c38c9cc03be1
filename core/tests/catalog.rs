//! Category catalogue: the shipped file, resolving what workers type, and refusing broken edits with the
//! line and field at fault.

use gridpatrol_core::calendar::ClockType;
use gridpatrol_core::catalog::{
    CURRENT_STANDARD, Catalog, CatalogError, CategoryKey, LEGACY_STANDARD,
};

const HEADER: &str = "standard,code,legacy_code,kind,major_class,minor_class,default_department,deadline_hours,clock,note";

/// Resolve and name the result's current code, or "-" for none.
fn code_of(catalog: &Catalog, input: &str) -> String {
    catalog
        .resolve(input)
        .map_or("-".to_string(), |category| category.key.code.clone())
}

fn error_of(text: &str) -> String {
    match Catalog::from_csv(text) {
        Ok(_) => panic!("catalogue accepted:\n{text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn builtin_catalogue_parses_with_80_rows() {
    let catalog = Catalog::builtin();
    assert_eq!(catalog.len(), 80);
    assert!(!catalog.is_empty());
    assert!(
        catalog
            .iter()
            .all(|category| category.key.standard == CURRENT_STANDARD)
    );
    let rubbish = catalog.get(&CategoryKey::current("06010")).unwrap();
    assert_eq!(rubbish.name(), "市容环境类 / 暴露垃圾");
    assert_eq!(rubbish.kind, "事件");
    assert_eq!(rubbish.default_department, "城管（环卫）");
    assert_eq!(rubbish.deadline_hours, 4.0);
    assert_eq!(rubbish.clock, ClockType::WorkingHours);
    assert_eq!(rubbish.legacy_code.as_deref(), Some("01-10 / 0102"));
    assert_eq!(
        rubbish.legacy_codes().collect::<Vec<_>>(),
        ["01-10", "0102"]
    );
    let gas = catalog.get(&CategoryKey::current("L9003")).unwrap();
    assert_eq!(
        (gas.deadline_hours, gas.clock),
        (0.5, ClockType::Continuous)
    );
    assert_eq!(
        catalog
            .get(&CategoryKey::current("05009"))
            .unwrap()
            .legacy_code,
        None
    );
    assert_eq!(
        catalog.get(&CategoryKey::current("01012")).unwrap().note,
        None
    );
}

#[test]
fn resolve_current_and_prefixed_codes() {
    let catalog = Catalog::builtin();
    assert_eq!(code_of(&catalog, "06010"), "06010");
    assert_eq!(code_of(&catalog, "GB/T 47678.5-2026:06010"), "06010");
    // As typed on a phone: spaces, lower case, full-width digits and colon.
    assert_eq!(
        code_of(&catalog, " gb/t 47678.5-2026：０６０１０ "),
        "06010"
    );
    assert_eq!(code_of(&catalog, "l9003"), "L9003");
}

#[test]
fn resolve_legacy_codes_to_current_categories() {
    let catalog = Catalog::builtin();
    assert_eq!(code_of(&catalog, "0101"), "01001", "供水井盖");
    assert_eq!(
        code_of(&catalog, "0114"),
        "01023",
        "不明井盖: legacy numbering differs"
    );
    assert_eq!(code_of(&catalog, "01-10"), "06010", "暴露垃圾, dashed form");
    assert_eq!(code_of(&catalog, "01－10"), "06010", "full-width dash");
    assert_eq!(code_of(&catalog, "01 - 10"), "06010");
    assert_eq!(code_of(&catalog, "0501"), "09001");
    assert_eq!(code_of(&catalog, "CJ/T 214-2007:0101"), "01001");
    assert_eq!(
        code_of(&catalog, &format!("{LEGACY_STANDARD}:01-36")),
        "06036"
    );
    // The two notations are different catalogues: 0111 is 燃气井盖, 01-11 is 积存垃圾渣土.
    assert_eq!(code_of(&catalog, "0111"), "01011");
    assert_eq!(code_of(&catalog, "01-11"), "06011");
}

#[test]
fn ambiguous_legacy_codes_resolve_to_none_but_list_the_choices() {
    let catalog = Catalog::builtin();
    // CJ/T 214-2007 numbers components and events separately: 0102 is 污水井盖 and 暴露垃圾.
    assert!(catalog.resolve("0102").is_none());
    let choices: Vec<_> = catalog
        .resolve_all("0102")
        .iter()
        .map(|c| c.key.code.as_str())
        .collect();
    assert_eq!(choices, ["01002", "06010"]);
    assert_eq!(catalog.resolve_all("0103").len(), 2);
}

#[test]
fn unknown_inputs_resolve_to_none() {
    let catalog = Catalog::builtin();
    for input in [
        "",
        "   ",
        "99999",
        "0199",
        "01-99",
        "XX:06010",
        "CJ/T 214-2007:06010",
        "06010:",
        "暴露垃圾",
    ] {
        assert!(catalog.resolve(input).is_none(), "{input:?} resolved");
    }
}

#[test]
fn local_standards_sit_beside_the_national_one() {
    let text = format!(
        "{HEADER}\n\
         {CURRENT_STANDARD},06010,01-10,事件,市容环境类,暴露垃圾,城管,4,WH,\n\
         深圳市地方标准,06010,,事件,市容环境类,暴露垃圾（深圳）,城管,2,WH,\n\
         深圳市地方标准,SZ001,–,地方扩展,市容环境类,共享单车堆积,城管,4,WH,\n"
    );
    let catalog = Catalog::from_csv(&text).unwrap();
    assert_eq!(catalog.len(), 3);
    // A bare code prefers the national catalogue; the standard's name picks the local row.
    assert_eq!(
        catalog.resolve("06010").unwrap().key.standard,
        CURRENT_STANDARD
    );
    assert_eq!(
        catalog
            .resolve("深圳市地方标准:06010")
            .unwrap()
            .deadline_hours,
        2.0
    );
    assert_eq!(
        catalog.resolve("SZ001").unwrap().key.standard,
        "深圳市地方标准"
    );
    let key = CategoryKey {
        standard: "深圳市地方标准".to_string(),
        code: "SZ001".to_string(),
    };
    assert_eq!(catalog.get(&key).unwrap().minor_class, "共享单车堆积");
}

#[test]
fn older_files_without_the_standard_column_are_national() {
    let text = "code,legacy_code,kind,major_class,minor_class,default_department,deadline_hours,clock,note\n\
                06010,01-10 / 0102,事件,市容环境类,暴露垃圾,城管（环卫）,4,WH,\n";
    let catalog = Catalog::from_csv(text).unwrap();
    assert_eq!(
        catalog.resolve("0102").unwrap().key,
        CategoryKey::current("06010")
    );
    // Columns in any order, legacy_code and note optional; a UTF-8 BOM (Excel) is fine.
    let text = "\u{feff}clock,deadline_hours,code,kind,major_class,minor_class,default_department\n\
                CH,2,01001,部件异常,市政公用设施,供水井盖异常,水务\n";
    let category = Catalog::from_csv(text)
        .unwrap()
        .iter()
        .next()
        .cloned()
        .unwrap();
    assert_eq!(category.key, CategoryKey::current("01001"));
    assert_eq!(
        (category.clock, category.legacy_code, category.note),
        (ClockType::Continuous, None, None)
    );
}

#[test]
fn to_csv_round_trips_and_is_the_shipped_file() {
    let catalog = Catalog::builtin();
    let text = catalog.to_csv();
    assert_eq!(
        text,
        include_str!("../data/catalog.csv"),
        "the shipped file is to_csv's own output"
    );
    let again = Catalog::from_csv(&text).unwrap();
    assert_eq!(again, catalog);
    assert_eq!(again.version(), catalog.version());
    // Quoting survives: a note with a comma, a quote and a line break.
    let tricky =
        format!("{HEADER}\n{CURRENT_STANDARD},X1,–,事件,a,b,c,1.25,WH,\"x, \"\"y\"\"\nz\"\n");
    let catalog = Catalog::from_csv(&tricky).unwrap();
    assert_eq!(
        catalog.iter().next().unwrap().note.as_deref(),
        Some("x, \"y\"\nz")
    );
    assert_eq!(Catalog::from_csv(&catalog.to_csv()).unwrap(), catalog);
}

#[test]
fn version_is_a_stable_content_fingerprint() {
    let catalog = Catalog::builtin();
    let version = catalog.version();
    assert_eq!(version.len(), 16);
    assert!(version.chars().all(|c| c.is_ascii_hexdigit()));
    let edited = catalog
        .to_csv()
        .replacen(",4,WH,4工作时", ",3,WH,4工作时", 1);
    assert_ne!(Catalog::from_csv(&edited).unwrap().version(), version);
}

#[test]
fn categories_serialise_with_clock_codes() {
    let catalog = Catalog::builtin();
    let category = catalog.resolve("01001").unwrap();
    let json = serde_json::to_string(category).unwrap();
    assert!(json.contains("\"clock\":\"CH\""), "{json}");
    let back: gridpatrol_core::catalog::Category = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, category);
}

/// A two-row file whose second data row (line 3) carries `row`.
fn with_row(row: &str) -> String {
    format!("{HEADER}\n{CURRENT_STANDARD},06010,0102,事件,市容环境类,暴露垃圾,城管,4,WH,\n{row}\n")
}

#[test]
fn bad_catalogues_name_the_line_and_field() {
    let clock = error_of(&with_row(
        "GB/T 47678.5-2026,06011,,事件,市容环境类,积存垃圾渣土,城管,16,XX,",
    ));
    assert_eq!(
        clock,
        "line 3: field \"clock\": unknown clock \"XX\" (时限类型须为 WH 或 CH)"
    );
    let negative = error_of(&with_row(
        "GB/T 47678.5-2026,06011,,事件,市容环境类,积存垃圾渣土,城管,-2,WH,",
    ));
    assert!(
        negative.starts_with("line 3: field \"deadline_hours\": \"-2\""),
        "{negative}"
    );
    for bad_hours in ["0", "abc", "", "NaN", "inf", "0.001"] {
        let row =
            format!("GB/T 47678.5-2026,06011,,事件,市容环境类,积存垃圾渣土,城管,{bad_hours},WH,");
        let error = error_of(&with_row(&row));
        assert!(
            error.starts_with("line 3: field \"deadline_hours\""),
            "{bad_hours:?}: {error}"
        );
    }
    let duplicate = error_of(&with_row(
        "GB/T 47678.5-2026,06010,,事件,市容环境类,暴露垃圾,城管,4,WH,",
    ));
    assert!(
        duplicate
            .starts_with("line 3: duplicate category GB/T 47678.5-2026:06010, first on line 2"),
        "{duplicate}"
    );
    let legacy = error_of(&with_row(
        "GB/T 47678.5-2026,06011,01-11 / 0102,事件,市容环境类,积存垃圾渣土,城管,4,WH,",
    ));
    assert!(
        legacy.starts_with(
            "line 3: field \"legacy_code\": \"0102\" (事件) is already mapped to 06010 on line 2"
        ),
        "{legacy}"
    );
    let count = error_of(&with_row(
        "GB/T 47678.5-2026,06011,,事件,市容环境类,积存垃圾渣土,城管,4,WH",
    ));
    assert!(
        count.starts_with("line 3: expected 10 fields, found 9"),
        "{count}"
    );
    let empty = error_of(&with_row(
        "GB/T 47678.5-2026,06011,,事件,,积存垃圾渣土,城管,4,WH,",
    ));
    assert!(
        empty.starts_with("line 3: field \"major_class\" is empty"),
        "{empty}"
    );
    let spaced = error_of(&with_row(
        "GB/T 47678.5-2026,060 11,,事件,市容环境类,积存垃圾渣土,城管,4,WH,",
    ));
    assert!(
        spaced.starts_with("line 3: field \"code\": \"060 11\" contains a space"),
        "{spaced}"
    );
    let slash = error_of(&with_row(
        "GB/T 47678.5-2026,06011,0103 / ,事件,市容环境类,积存垃圾渣土,城管,4,WH,",
    ));
    assert!(
        slash.starts_with("line 3: field \"legacy_code\""),
        "{slash}"
    );
}

#[test]
fn a_legacy_code_may_repeat_across_kinds_only() {
    // The same number in the component tree and the event tree is how CJ/T 214-2007 is built...
    let across =
        with_row("GB/T 47678.5-2026,01002,0102,部件异常,市政公用设施,污水井盖异常,水务,2,CH,");
    assert_eq!(Catalog::from_csv(&across).unwrap().len(), 2);
    // ...but twice within one kind, the mapping would be a guess.
    let within = with_row("GB/T 47678.5-2026,06099,0102,事件,市容环境类,别的,城管,4,WH,");
    assert!(error_of(&within).starts_with("line 3: field \"legacy_code\""));
}

#[test]
fn bad_headers_are_refused() {
    let missing = error_of(
        "standard,code,legacy_code,kind,major_class,minor_class,default_department,clock,note\n",
    );
    assert_eq!(
        missing,
        "line 1: missing column \"deadline_hours\" (缺少列 deadline_hours)"
    );
    let unknown = error_of(&HEADER.replace("deadline_hours", "deadline_hour"));
    assert!(
        unknown.starts_with("line 1: unknown column \"deadline_hour\""),
        "{unknown}"
    );
    let twice = error_of(&format!("{HEADER},clock"));
    assert!(
        twice.starts_with("line 1: column \"clock\" appears twice"),
        "{twice}"
    );
    assert!(error_of("").starts_with("line 1: missing column \"code\""));
    assert!(matches!(Catalog::from_csv(HEADER), Ok(catalog) if catalog.is_empty()));
}

#[test]
fn errors_convert_into_the_core_error() {
    let error: gridpatrol_core::Error = Catalog::from_csv("nonsense\n").unwrap_err().into();
    assert!(error.to_string().contains("unknown column \"nonsense\""));
    assert!(matches!(
        Catalog::from_csv("code\n"),
        Err(CatalogError::MissingColumn { column: "kind" })
    ));
}

#[test]
fn errors_name_the_same_line_with_lf_and_crlf() {
    for end in ["\n", "\r\n"] {
        let text = [
            "standard,code,legacy_code,kind,major_class,minor_class,default_department,deadline_hours,clock,note",
            "GB/T 47678.5-2026,06010,–,事件,市容环境类,暴露垃圾,城管,4,WH,",
            "GB/T 47678.5-2026,06011,–,事件,市容环境类,积存垃圾,城管,4,XX,",
        ]
        .join(end);
        let err = gridpatrol_core::catalog::Catalog::from_csv(&text).unwrap_err();
        assert!(err.to_string().starts_with("line 3:"), "{end:?}: {err}");
    }
}
