//! Deterministic synthetic tenants.

use crate::clock::{Clock, seed_time};
use crate::config::SeedSpec;
use crate::fixture::{self, TenantFixture};
use crate::store::Tenant;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

const FIRST: &[&str] = &[
    "Aaliyah", "Adele", "Ahmed", "Aiko", "Alex", "Alice", "Amara", "Ana", "Andrei", "Anita",
    "Arjun", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Daniel", "Diego", "Elena", "Emeka",
    "Emma", "Fatima", "Felix", "Grace", "Hana", "Hiro", "Ines", "Isaac", "Jana", "Javier", "Jin",
    "Julia", "Kai", "Kamala", "Lars", "Laura", "Leila", "Lena", "Liam", "Lucia", "Mahmoud",
    "Maria", "Mateo", "Mei", "Mia", "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Rosa",
    "Sam", "Sara", "Sofia", "Tariq", "Tomas", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Abe",
    "Adeyemi",
    "Andersen",
    "Bauer",
    "Becker",
    "Costa",
    "Da Silva",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Gonzalez",
    "Gupta",
    "Haddad",
    "Hansen",
    "Hernandez",
    "Ito",
    "Jensen",
    "Kim",
    "Kowalski",
    "Kumar",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Müller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "O'Brien",
    "Okafor",
    "Olsen",
    "Patel",
    "Petrov",
    "Rossi",
    "Santos",
    "Schmidt",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thompson",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Yamamoto",
    "Zhang",
];
const DEPARTMENTS: &[&str] = &[
    "Finance",
    "Human Resources",
    "Engineering",
    "Sales",
    "Marketing",
    "Legal",
    "Operations",
    "IT",
    "Research",
    "Customer Support",
    "Procurement",
    "Facilities",
];
const TITLES: &[&str] = &[
    "Analyst",
    "Senior Analyst",
    "Engineer",
    "Senior Engineer",
    "Principal Engineer",
    "Manager",
    "Senior Manager",
    "Director",
    "Specialist",
    "Coordinator",
    "Consultant",
    "Architect",
    "Administrator",
    "Associate",
    "Lead",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Seattle", "WA", "United States"),
    ("New York", "NY", "United States"),
    ("Austin", "TX", "United States"),
    ("Toronto", "ON", "Canada"),
    ("London", "England", "United Kingdom"),
    ("Dublin", "Leinster", "Ireland"),
    ("Paris", "Île-de-France", "France"),
    ("Berlin", "Berlin", "Germany"),
    ("Munich", "Bavaria", "Germany"),
    ("Amsterdam", "North Holland", "Netherlands"),
    ("Madrid", "Madrid", "Spain"),
    ("Stockholm", "Stockholm", "Sweden"),
    ("Tokyo", "Tokyo", "Japan"),
    ("Singapore", "Singapore", "Singapore"),
    ("Sydney", "NSW", "Australia"),
    ("São Paulo", "SP", "Brazil"),
    ("Bengaluru", "Karnataka", "India"),
];
const WORDS: &[&str] = &[
    "Atlas", "Beacon", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
    "Keystone", "Lumen", "Maple", "Nimbus", "Orion", "Pioneer", "Quartz", "Raven", "Summit",
    "Tidal", "Unity", "Vertex", "Willow", "Zephyr",
];

fn ascii(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'ü' => Some('u'),
            'é' | 'è' => Some('e'),
            'ã' | 'á' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn guid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.r#gen())
        .into_uuid()
        .to_string()
}

/// Generates the deterministic content of a synthetic tenant on `domain`.
pub fn generate_seed(spec: &SeedSpec, domain: &str) -> TenantFixture {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut users = Vec::with_capacity(spec.users);
    let mut user_ids = Vec::with_capacity(spec.users);
    let mut taken: HashMap<String, u32> = HashMap::new();
    for i in 0..spec.users {
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let dept = DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())];
        let title = TITLES[rng.gen_range(0..TITLES.len())];
        let (city, state, country) = CITIES[rng.gen_range(0..CITIES.len())];
        let stem = format!("{}.{}", ascii(first), ascii(last));
        let n = taken.entry(stem.clone()).or_insert(0);
        *n += 1;
        let nick = if *n == 1 { stem } else { format!("{stem}{n}") };
        let upn = format!("{nick}@{domain}");
        let id = guid(&mut rng);
        let enabled = rng.gen_range(0..100) >= 3;
        let phone = format!("+1 555 {:04}", rng.gen_range(0..10_000));
        users.push(json!({
            "id": id,
            "displayName": format!("{first} {last}"),
            "givenName": first,
            "surname": last,
            "userPrincipalName": upn,
            "mail": upn,
            "mailNickname": nick,
            "accountEnabled": enabled,
            "userType": "Member",
            "department": dept,
            "jobTitle": format!("{dept} {title}"),
            "city": city,
            "state": state,
            "country": country,
            "usageLocation": "US",
            "officeLocation": format!("{city} {}", rng.gen_range(1..40)),
            "companyName": domain.split('.').next().unwrap_or(domain),
            "employeeId": format!("E{:06}", i + 1),
            "businessPhones": [phone],
            "mobilePhone": null,
            "preferredLanguage": "en-US",
            "creationType": null,
            "onPremisesImmutableId": null,
        }));
        user_ids.push(id);
    }
    let mut groups = Vec::new();
    let mut security_ids = Vec::new();
    let mut group_ids = Vec::new();
    let total = spec.security_groups + spec.m365_groups + spec.mail_enabled_groups;
    for i in 0..total {
        let id = guid(&mut rng);
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let word = WORDS[rng.gen_range(0..WORDS.len())];
        let g = if i < spec.security_groups {
            security_ids.push(id.clone());
            let name = format!("SG {dept} {word} {}", i + 1);
            json!({
                "id": id, "displayName": name, "description": format!("Security group for {dept}"),
                "mailNickname": format!("sg-{}-{}", ascii(dept), i + 1), "mailEnabled": false,
                "securityEnabled": true, "groupTypes": [], "mail": null, "visibility": null,
            })
        } else if i < spec.security_groups + spec.m365_groups {
            let nick = format!("{}{}", ascii(word), i + 1);
            json!({
                "id": id, "displayName": format!("Project {word} {}", i + 1), "description": format!("{word} project team"),
                "mailNickname": nick, "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"],
                "mail": format!("{nick}@{domain}"), "visibility": "Private",
                "proxyAddresses": [format!("SMTP:{nick}@{domain}")],
            })
        } else {
            let nick = format!("mesg-{}-{}", ascii(dept), i + 1);
            json!({
                "id": id, "displayName": format!("{dept} Mail Security {}", i + 1), "description": null,
                "mailNickname": nick, "mailEnabled": true, "securityEnabled": true, "groupTypes": [],
                "mail": format!("{nick}@{domain}"), "visibility": null,
                "proxyAddresses": [format!("SMTP:{nick}@{domain}")],
            })
        };
        group_ids.push(id);
        groups.push(g);
    }
    let mut memberships: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !user_ids.is_empty() {
        for g in &group_ids {
            let avg = spec.avg_members.max(1);
            let n = rng.gen_range(avg / 2..=avg + avg / 2).min(user_ids.len());
            let picked: Vec<String> = rand::seq::index::sample(&mut rng, user_ids.len(), n)
                .into_iter()
                .map(|i| user_ids[i].clone())
                .collect();
            memberships.insert(g.clone(), picked);
        }
    }
    // Nesting: security group i goes into an earlier security group, so no cycles.
    let nested = spec.nested.min(security_ids.len().saturating_sub(1));
    let mut children: Vec<usize> = (1..security_ids.len()).collect();
    children.shuffle(&mut rng);
    for &child in children.iter().take(nested) {
        let parent = rng.gen_range(0..child);
        memberships
            .entry(security_ids[parent].clone())
            .or_default()
            .push(security_ids[child].clone());
    }
    let users: Vec<Value> = users;
    TenantFixture {
        users,
        groups,
        memberships,
        extension_properties: Vec::new(),
    }
}

/// Adds the synthetic content of `spec` to a tenant's starting state. Seeded objects are
/// created at [`SEED_TIME`](crate::clock::SEED_TIME) whatever the tenant's clock reads, so the
/// same seed gives the same tenant, stamps included.
pub(crate) fn apply(t: &mut Tenant, spec: &SeedSpec) {
    let fx = generate_seed(spec, &t.domain.clone());
    let clock = std::mem::replace(&mut t.clock, Clock::manual(seed_time()));
    // Generated ids are unique and memberships refer to generated objects only.
    let _ = fixture::apply(t, &fx);
    t.clock = clock;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Knobs;

    fn spec() -> SeedSpec {
        SeedSpec {
            seed: 7,
            users: 300,
            security_groups: 20,
            m365_groups: 5,
            mail_enabled_groups: 3,
            nested: 6,
            avg_members: 10,
        }
    }

    #[test]
    fn seeds_are_deterministic() {
        let a = generate_seed(&spec(), "contoso.onmicrosoft.com");
        let b = generate_seed(&spec(), "contoso.onmicrosoft.com");
        assert_eq!(a, b);
        let mut other = spec();
        other.seed = 8;
        assert_ne!(a, generate_seed(&other, "contoso.onmicrosoft.com"));
        assert_eq!(a.users.len(), 300);
        assert_eq!(a.groups.len(), 28);
        let upns: std::collections::HashSet<_> = a
            .users
            .iter()
            .map(|u| u["userPrincipalName"].clone())
            .collect();
        assert_eq!(upns.len(), 300);
        assert!(a.users.iter().any(|u| u["accountEnabled"] == json!(false)));
    }

    #[test]
    fn large_seed_loads_with_fixed_stamps() {
        let spec = SeedSpec {
            seed: 1,
            users: 10_000,
            security_groups: 900,
            m365_groups: 50,
            mail_enabled_groups: 50,
            nested: 100,
            avg_members: 100,
        };
        let mut t = Tenant::new("t", "big.onmicrosoft.com", Vec::new(), Knobs::default());
        apply(&mut t, &spec);
        let members: usize = t.members.values().map(|m| m.len()).sum();
        assert_eq!(t.users().len(), 10_000);
        assert_eq!(t.groups.len(), 1_000);
        assert!(members >= 90_000, "{members} memberships");
        // Seeded on the fixed seed clock; the tenant keeps its own clock afterwards.
        assert!(
            t.users()
                .values()
                .all(|u| u["createdDateTime"] == json!(crate::clock::SEED_TIME))
        );
        assert!(!t.clock.is_manual());
    }
}
