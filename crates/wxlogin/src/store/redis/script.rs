//! Lua scripts called with named keys and arguments. A script declares the
//! names of its KEYS and ARGV; a preamble binds each to a Lua local of that
//! name, and a call must pass them by the same names, in the same order. A
//! call that names them wrong is refused before it reaches Redis, so the
//! Rust side and the Lua side cannot drift apart by position.

use redis::aio::ConnectionManager;
use redis::{FromRedisValue, ToRedisArgs};

use crate::store::StoreError;

pub(super) struct LuaScript {
    script: redis::Script,
    name: &'static str,
    keys: Vec<&'static str>,
    args: Vec<&'static str>,
}

impl LuaScript {
    pub fn new(
        name: &'static str,
        keys: &[&'static str],
        args: &[&'static str],
        body: &str,
    ) -> Self {
        let mut lua = String::new();
        for (i, key) in keys.iter().enumerate() {
            lua.push_str(&format!("local {key} = KEYS[{}]\n", i + 1));
        }
        for (i, arg) in args.iter().enumerate() {
            lua.push_str(&format!("local {arg} = ARGV[{}]\n", i + 1));
        }
        lua.push_str(body);
        Self {
            script: redis::Script::new(&lua),
            name,
            keys: keys.to_vec(),
            args: args.to_vec(),
        }
    }

    pub fn call(&self) -> Call<'_> {
        Call {
            script: self,
            invocation: self.script.prepare_invoke(),
            keys: 0,
            args: 0,
            mismatch: None,
        }
    }
}

pub(super) struct Call<'a> {
    script: &'a LuaScript,
    invocation: redis::ScriptInvocation<'a>,
    keys: usize,
    args: usize,
    mismatch: Option<String>,
}

impl Call<'_> {
    pub fn key(mut self, name: &str, key: impl ToRedisArgs) -> Self {
        self.check(name, self.script.keys.get(self.keys).copied());
        self.keys += 1;
        self.invocation.key(key);
        self
    }

    pub fn arg(mut self, name: &str, value: impl ToRedisArgs) -> Self {
        self.check(name, self.script.args.get(self.args).copied());
        self.args += 1;
        self.invocation.arg(value);
        self
    }

    fn check(&mut self, given: &str, expected: Option<&str>) {
        if self.mismatch.is_none() && expected != Some(given) {
            self.mismatch = Some(format!(
                "script {} called with `{given}` where it expects {expected:?}",
                self.script.name
            ));
        }
    }

    pub async fn run<T: FromRedisValue>(self, conn: &ConnectionManager) -> Result<T, StoreError> {
        let complete = self.keys == self.script.keys.len() && self.args == self.script.args.len();
        if let Some(why) = self.mismatch.or_else(|| {
            (!complete).then(|| format!("script {} called with too few values", self.script.name))
        }) {
            return Err(StoreError::Config(why));
        }
        self.invocation
            .invoke_async(&mut conn.clone())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_preamble_names_keys_and_arguments() {
        let s = LuaScript::new("t", &["user"], &["now", "owner"], "return now");
        let call = s.call().key("user", "k").arg("now", 1).arg("owner", "me");
        assert!(call.mismatch.is_none());
        assert_eq!((call.keys, call.args), (1, 2));
        let wrong = s.call().key("user", "k").arg("owner", "me");
        assert!(wrong.mismatch.unwrap().contains("`owner`"));
    }
}
