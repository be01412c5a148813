//! Applies a plan to a target snapshot in memory: what the target would hold after a
//! successful apply. Used to show the outcome of a dry run and to check the planner's promise
//! that planning again after applying gives an empty plan.

use std::collections::HashMap;

use crate::snapshot::{DirectoryObject, Snapshot};
use crate::value::Value;

use super::model::{ObjectRef, Operation};

/// Why a plan cannot be applied to this snapshot (it was made for another one).
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// An operation names a target object the snapshot does not have.
    #[error("operation {op} names target object {id}, which the snapshot does not have")]
    MissingObject {
        /// The operation kind.
        op: &'static str,
        /// The missing id.
        id: String,
    },
    /// A reference to an object created earlier in the plan, but no such creation came first.
    #[error(
        "operation {op} refers to the object created from source {source_id}, but the plan creates none before it"
    )]
    NotCreated {
        /// The operation kind.
        op: &'static str,
        /// The source id.
        source_id: String,
    },
}

/// The target id the simulation gives the object created from `source_id` (deterministic).
pub(crate) fn simulated_target_id(source_id: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, source_id.as_bytes()).to_string()
}

/// Returns `target` as it would be after every operation of `plan` succeeded, in order.
pub fn simulate(target: &Snapshot, operations: &[Operation]) -> Result<Snapshot, SimulateError> {
    let mut out = target.clone();
    let mut created: HashMap<String, String> = HashMap::new();
    for op in operations {
        let kind = op.kind();
        let resolve = |r: &ObjectRef, created: &HashMap<String, String>| match r {
            ObjectRef::TargetId(id) => Ok(id.clone()),
            ObjectRef::CreatedFrom(s) => {
                created
                    .get(s)
                    .cloned()
                    .ok_or_else(|| SimulateError::NotCreated {
                        op: kind,
                        source_id: s.clone(),
                    })
            }
        };
        match op {
            Operation::RestoreUser { target_id, .. } => {
                restore(&mut out.deleted_users, &mut out.users, target_id, kind)?
            }
            Operation::RestoreGroup { target_id, .. } => {
                restore(&mut out.deleted_groups, &mut out.groups, target_id, kind)?
            }
            Operation::CreateUser {
                source_id,
                invitation,
                attributes,
                ..
            } => {
                let id = simulated_target_id(source_id);
                let domain = out
                    .default_domain
                    .clone()
                    .unwrap_or_else(|| "target.example".into());
                let mut user = DirectoryObject::new(&id)
                    .with("mail", invitation.email.as_str())
                    .with(
                        "userPrincipalName",
                        format!("{}#EXT#@{domain}", invitation.email.replace('@', "_")),
                    )
                    .with("userType", invitation.user_type.as_str())
                    .with("creationType", "Invitation")
                    .with("externalUserState", "PendingAcceptance")
                    .with("accountEnabled", true);
                if let Some(name) = &invitation.display_name {
                    user = user.with("displayName", name.as_str());
                }
                for a in attributes {
                    set(&mut user, &a.attribute, &a.new);
                }
                out.users.push(user);
                created.insert(source_id.clone(), id);
            }
            Operation::UpdateUser {
                target_id, changes, ..
            } => {
                let user = find(&mut out.users, target_id, kind)?;
                for c in changes {
                    set(user, &c.attribute, &c.new);
                }
            }
            Operation::UpdateGroup {
                target_id, changes, ..
            } => {
                let group = find(&mut out.groups, target_id, kind)?;
                for c in changes {
                    set(group, &c.attribute, &c.new);
                }
            }
            Operation::DisableUser { target_id, .. } => {
                find(&mut out.users, target_id, kind)?
                    .attributes
                    .insert("accountEnabled".into(), Value::Bool(false));
            }
            Operation::DeleteUser { target_id, .. } => {
                let pos = position(&out.users, target_id, kind)?;
                let user = out.users.remove(pos);
                // Entra removes a deleted user from its groups.
                for g in &mut out.groups {
                    remove_member(g, target_id);
                }
                out.deleted_users.push(user);
            }
            Operation::CreateGroup {
                source_id,
                attributes,
                members,
                ..
            } => {
                let id = simulated_target_id(source_id);
                let mut group = DirectoryObject::new(&id);
                for a in attributes {
                    set(&mut group, &a.attribute, &a.new);
                }
                let ids = members
                    .iter()
                    .map(|m| resolve(m, &created).map(Value::String))
                    .collect::<Result<Vec<_>, _>>()?;
                group.attributes.insert("members".into(), Value::Multi(ids));
                out.groups.push(group);
                created.insert(source_id.clone(), id);
            }
            Operation::AddMember { group, member, .. } => {
                let gid = resolve(group, &created)?;
                let mid = resolve(member, &created)?;
                let g = find(&mut out.groups, &gid, kind)?;
                let mut members = g.get("members").as_list();
                if !members
                    .iter()
                    .any(|m| m.as_text().as_deref() == Some(mid.as_str()))
                {
                    members.push(Value::String(mid));
                }
                g.attributes.insert("members".into(), Value::Multi(members));
            }
            Operation::RemoveMember {
                group_id,
                member_id,
                ..
            } => remove_member(find(&mut out.groups, group_id, kind)?, member_id),
            Operation::DeleteGroup { target_id, .. } => {
                let pos = position(&out.groups, target_id, kind)?;
                let group = out.groups.remove(pos);
                for g in &mut out.groups {
                    remove_member(g, target_id);
                }
                out.deleted_groups.push(group);
            }
        }
    }
    Ok(out)
}

fn set(object: &mut DirectoryObject, attribute: &str, value: &Value) {
    if value.is_null() {
        object.attributes.remove(attribute);
    } else {
        object
            .attributes
            .insert(attribute.to_string(), value.clone());
    }
}

fn position(list: &[DirectoryObject], id: &str, op: &'static str) -> Result<usize, SimulateError> {
    list.iter()
        .position(|o| o.id == id)
        .ok_or_else(|| SimulateError::MissingObject {
            op,
            id: id.to_string(),
        })
}

fn find<'a>(
    list: &'a mut [DirectoryObject],
    id: &str,
    op: &'static str,
) -> Result<&'a mut DirectoryObject, SimulateError> {
    let pos = position(list, id, op)?;
    Ok(&mut list[pos])
}

fn restore(
    deleted: &mut Vec<DirectoryObject>,
    live: &mut Vec<DirectoryObject>,
    id: &str,
    op: &'static str,
) -> Result<(), SimulateError> {
    let pos = position(deleted, id, op)?;
    let mut object = deleted.remove(pos);
    object.attributes.remove("deletedDateTime");
    live.push(object);
    Ok(())
}

fn remove_member(group: &mut DirectoryObject, member: &str) {
    if let Some(list) = group.attributes.get_mut("members") {
        let kept: Vec<Value> = list
            .as_list()
            .into_iter()
            .filter(|m| m.as_text().as_deref() != Some(member))
            .collect();
        *list = Value::Multi(kept);
    }
}
