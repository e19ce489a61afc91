//! argon2id password hashes (OWASP's default parameters), computed off the async workers in working
//! memory that is kept for the next hash.
//!
//! Why not `Argon2::hash_password`: it allocates its 19 MiB of 64-byte-aligned blocks for every hash, and
//! glibc's malloc keeps most of each one (the aligned request no longer fits the block freed before it).
//! Measured with the release allocator's behaviour in a debug build: 159 MB resident after ten sequential
//! hashes on one thread, 431 MB after thirty through `spawn_blocking`, where a 256 MB `UsersRegisterFunction`
//! is killed for memory. Here an environment holds one 19 MiB buffer (one per concurrent hash).

use std::sync::{LazyLock, Mutex, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::ServiceError;

/// Salt length: the PHC string format's recommendation (16 bytes).
const SALT_LEN: usize = 16;

/// Working memory of hashes that have finished, for the next ones to reuse.
static SPARE_MEMORY: WorkingMemory = WorkingMemory(Mutex::new(Vec::new()));

struct WorkingMemory(Mutex<Vec<Vec<Block>>>);

/// A hash of a random password nobody knows: verifying against it makes a login for an unknown email
/// cost the same as one for a known email with a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_now(&rand::random::<[u8; 24]>()).expect("hashing a random password cannot fail")
});

impl WorkingMemory {
    /// Runs `f` over `blocks` blocks of memory, reusing a spare buffer when there is one.
    fn with<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut memory = spare.unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        let result = f(&mut memory[..blocks]);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        result
    }
}

fn hash_now(password: &[u8]) -> Result<String, ServiceError> {
    let argon2 = Argon2::default();
    let params = argon2.params();
    let salt = rand::random::<[u8; SALT_LEN]>();
    let mut output = vec![0; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    SPARE_MEMORY
        .with(params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(password, &salt, &mut output, memory)
        })
        .map_err(ServiceError::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(ServiceError::internal)?,
        salt: Some(Salt::new(&salt).map_err(ServiceError::internal)?),
        hash: Some(Output::new(&output).map_err(ServiceError::internal)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `stored` under the algorithm, version and parameters `stored` names
/// (hashes made with other parameters before still verify). `None` for a hash that cannot be read.
fn verify_now(password: &[u8], stored: &str) -> Option<bool> {
    let phc = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&phc).ok()?;
    let (salt, expected) = (phc.salt.as_ref()?, phc.hash.as_ref()?);
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = vec![0; expected.len()];
    SPARE_MEMORY
        .with(argon2.params().block_count(), |memory| {
            argon2.hash_password_into_with_memory(password, salt, &mut output, memory)
        })
        .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&output).ok()? == *expected)
}

pub async fn hash(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || hash_now(password.as_bytes()))
        .await
        .map_err(ServiceError::internal)?
}

/// Verifies `password` against `stored`, or against the dummy hash when there is no user, so both take
/// one argon2 computation. Returns whether it matched (never for the dummy).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let matched = verify_now(password.as_bytes(), &hash).unwrap_or(false);
        known && matched
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("wrong".into(), Some(stored)).await);
        assert!(!verify("anything".into(), None).await);
        assert!(!verify("anything".into(), Some("not a hash".into())).await);
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_both_ways() {
        let ours = hash_now(b"hunter22").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"hunter22", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"hunter23", &parsed)
                .is_err()
        );

        // A hash the crate made, with parameters other than ours (as an older row might hold).
        let params = Params::new(8 * 1024, 3, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"hunter22")
            .unwrap()
            .to_string();
        assert_eq!(verify_now(b"hunter22", &theirs), Some(true));
        assert_eq!(verify_now(b"hunter23", &theirs), Some(false));
    }

    #[test]
    fn working_memory_is_reused_and_only_concurrent_hashes_add_to_it() {
        let pool = WorkingMemory(Mutex::new(Vec::new()));
        let first = pool.with(1024, |memory| memory.as_ptr());
        let second = pool.with(1024, |memory| memory.as_ptr());
        assert_eq!(first, second, "a sequential hash allocated again");
        // A hash while another holds the buffer gets one of its own; both are kept.
        let (outer, inner) = pool.with(1024, |outer| {
            (outer.as_ptr(), pool.with(1024, |inner| inner.as_ptr()))
        });
        assert_eq!(outer, first);
        assert_ne!(inner, first);
        assert_eq!(pool.0.lock().unwrap().len(), 2);
        // Larger parameters (an older hash) grow a buffer rather than fail.
        assert_eq!(pool.with(4096, |memory| memory.len()), 4096);
    }
}
