//! The card's counters, one per `holdback_regmap::Stat`.
use std::collections::BTreeMap;
use std::fmt;

use holdback_regmap::Stat;
use serde::de::{Deserializer, Error as _};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A snapshot of every counter. Serialises as a JSON object `name → value`
/// in register order, with the regmap's snake_case names.
#[derive(Clone, PartialEq, Eq)]
pub struct Stats {
    values: [u32; Stat::COUNT],
}

/// By hand: `Default` is derived for arrays of at most 32.
impl Default for Stats {
    fn default() -> Self {
        Stats { values: [0; Stat::COUNT] }
    }
}

impl Stats {
    /// From the stats block words, index = `Stat::index()`.
    pub fn from_values(values: [u32; Stat::COUNT]) -> Stats {
        Stats { values }
    }
    pub fn get(&self, stat: Stat) -> u32 {
        self.values[stat.index()]
    }
    /// The counter named `name` (`"drop_bad_ip_checksum"`).
    pub fn by_name(&self, name: &str) -> Option<u32> {
        stat_by_name(name).map(|s| self.get(s))
    }
    /// Every counter in register order.
    pub fn iter(&self) -> impl Iterator<Item = (Stat, u32)> + '_ {
        Stat::ALL.iter().map(|s| (*s, self.get(*s)))
    }
    /// The drop counters (`Drop*`) only.
    pub fn drops(&self) -> impl Iterator<Item = (Stat, u32)> + '_ {
        self.iter().filter(|(s, _)| s.name().starts_with("drop_"))
    }
    /// Counter increments since `earlier` (wrapping, as the counters do).
    pub fn delta_since(&self, earlier: &Stats) -> Stats {
        let mut values = [0u32; Stat::COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            *v = self.values[i].wrapping_sub(earlier.values[i]);
        }
        Stats { values }
    }
}

/// The `Stat` whose snake_case name is `name`.
pub fn stat_by_name(name: &str) -> Option<Stat> {
    Stat::ALL.iter().copied().find(|s| s.name() == name)
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(s, v)| (s.name(), v))).finish()
    }
}

impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Stat::COUNT))?;
        for (stat, v) in self.iter() {
            map.serialize_entry(stat.name(), &v)?;
        }
        map.end()
    }
}

/// Accepts exactly the regmap's names: an unknown or missing counter means
/// the two ends were built from different register maps.
impl<'de> Deserialize<'de> for Stats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Stats, D::Error> {
        let map = BTreeMap::<String, u32>::deserialize(d)?;
        let mut values = [0u32; Stat::COUNT];
        for (name, v) in &map {
            let stat = stat_by_name(name).ok_or_else(|| D::Error::custom(format!("unknown counter `{name}`")))?;
            values[stat.index()] = *v;
        }
        if let Some(missing) = Stat::ALL.iter().find(|s| !map.contains_key(s.name())) {
            return Err(D::Error::custom(format!("counter `{}` missing", missing.name())));
        }
        Ok(Stats { values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_regmap_name_in_order_and_round_trips() {
        let mut values = [0u32; Stat::COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            *v = 100 + i as u32;
        }
        let stats = Stats::from_values(values);
        let json = serde_json::to_string(&stats).unwrap();
        let mut last = 0;
        for s in Stat::ALL {
            let pos = json.find(&format!("\"{}\":{}", s.name(), 100 + s.index())).unwrap_or_else(|| panic!("{} missing or out of place", s.name()));
            assert!(pos >= last, "{} out of order", s.name());
            last = pos;
        }
        assert_eq!(serde_json::from_str::<Stats>(&json).unwrap(), stats);
        assert_eq!(stats.by_name("drop_tcb_full"), Some(100 + Stat::DropTcbFull.index() as u32));
        assert!(stats.drops().all(|(s, _)| s.name().starts_with("drop_")));
    }

    #[test]
    fn deserialize_refuses_unknown_or_missing_counters() {
        assert!(serde_json::from_str::<Stats>(r#"{"rx_frames":1}"#).is_err());
        let mut v = serde_json::to_value(Stats::default()).unwrap();
        v["bogus"] = 1.into();
        let err = serde_json::from_value::<Stats>(v).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn delta_wraps() {
        let mut a = [0u32; Stat::COUNT];
        a[0] = u32::MAX;
        let mut b = [0u32; Stat::COUNT];
        b[0] = 2;
        let d = Stats::from_values(b).delta_since(&Stats::from_values(a));
        assert_eq!(d.get(Stat::RxFrames), 3);
    }
}
