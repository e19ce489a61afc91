use uuid::Uuid;

/// Every entity id is a UUID v7: unique without coordination and ordered by creation time, so the primary
/// key also serves cursor pagination and keeps B-tree inserts at the right edge.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_increase() {
        let first = new_id();
        let second = new_id();
        assert_eq!(first.get_version_num(), 7);
        assert!(second > first, "{second} should sort after {first}");
    }
}
