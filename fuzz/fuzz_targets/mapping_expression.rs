//! Entra-style attribute mapping expressions (the connectors' `mapping` settings): parsing
//! never panics, and evaluating a parsed expression against a user never panics.
#![no_main]

use idsync_source::mapping::Expression;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expression) = Expression::parse(text) else {
        return;
    };
    let user = serde_json::json!({
        "userPrincipalName": "adele@contoso.example",
        "mail": "Adele.Vance@contoso.example",
        "givenName": "Adele",
        "surname": "Vance",
        "otherMails": ["a@x.example", "b@x.example"],
        "accountEnabled": true,
        "employeeId": "00042",
        "profile": {"department": "Sales"}
    });
    let _ = expression.evaluate(&user);
    let _ = expression.evaluate_values(&user);
});
