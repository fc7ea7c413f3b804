//! The API document's schema of a run's action: the action's own fields as the trigger held them
//! (`type` says which kind), beside the run's bookkeeping. Written out because the derived input
//! schemas refuse unknown fields, which an allOf of them with the bookkeeping would inherit.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::run::{ActionStatus, Attempt, RunAction};
use super::trigger::{FunctionCall, RequestAction};

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// `action`'s properties, open to more, with `type` and the bookkeeping every run action has.
fn variant(kind: &str, action: RefOr<Schema>) -> Schema {
    let RefOr::T(Schema::Object(mut object)) = action else {
        return Schema::Object(Default::default());
    };
    object.additional_properties = None;
    let bookkeeping: [(&str, RefOr<Schema>); 5] = [
        ("type", string().enum_values(Some([kind])).into()),
        ("index", super::schema::uint(u64::MAX).into()),
        ("status", Ref::from_schema_name(ActionStatus::name()).into()),
        ("attempt_count", super::schema::uint(u64::from(u32::MAX)).into()),
        ("attempts", ArrayBuilder::new().items(Ref::from_schema_name(Attempt::name())).into()),
    ];
    for (name, schema) in bookkeeping {
        object.properties.insert(name.to_owned(), schema);
        object.required.push(name.to_owned());
    }
    Schema::Object(object)
}

/// A mailer's action: one address.
fn email() -> RefOr<Schema> {
    ObjectBuilder::new()
        .property("to", string())
        .property("subject", string())
        .property("content", string())
        .required("to")
        .required("subject")
        .required("content")
        .into()
}

impl PartialSchema for RunAction {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(variant("function", FunctionCall::schema()))
            .item(variant("email", email()))
            .item(variant("request", RequestAction::schema()))
            .into()
    }
}

impl ToSchema for RunAction {
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.push((ActionStatus::name().into(), ActionStatus::schema()));
        out.push((Attempt::name().into(), Attempt::schema()));
        FunctionCall::schemas(out);
        RequestAction::schemas(out);
    }
}
