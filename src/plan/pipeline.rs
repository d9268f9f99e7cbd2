//! A SELECT the gateway finishes, as data: where its rows come from (routes, joins, derived
//! tables, unions) and the clauses applied to them in SQL's order. The planner builds it; the
//! engine runs it.

use super::expr::Ev;
use crate::protocol::topology::TabletType;

/// Left rows per query of a nested-loop join's right side.
pub const JOIN_BATCH: usize = 256;

/// A query sent to some shards of one keyspace.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub keyspace: String,
    pub shards: Vec<String>,
    pub sql: String,
    pub tablet_type: TabletType,
    /// The shards return rows ordered by these keys: merge-sort them.
    pub merge: Vec<SortKey>,
    /// Merge key columns count from this many columns before the end of the row (the planner
    /// appends them after the select list, whose width `*` makes unknown); 0: from the start.
    pub tail: usize,
}

/// An ORDER BY key over a row: a column, its weight string column, the direction.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub col: usize,
    pub weight: Option<usize>,
    pub desc: bool,
}

/// Where a pipeline's rows come from. Rows are laid out as the source's explicit columns
/// (known to the planner) followed by `*` columns (known when rows arrive).
#[derive(Debug, Clone)]
pub enum Source {
    Route(RouteSpec),
    Join(Box<JoinSpec>),
    Derived(Box<Pipeline>, String),
    Union(Vec<Pipeline>, bool),
}

/// One output column.
#[derive(Debug, Clone)]
pub enum Proj {
    Expr(Ev, String),
    /// The `*` columns of one table (by its alias), or of all.
    Star(Option<String>),
}

/// An ORDER BY key evaluated before projection.
#[derive(Debug, Clone)]
pub struct OrderKey {
    pub ev: Ev,
    pub weight: Option<usize>,
    pub desc: bool,
}

/// SELECT's clauses in SQL's order, over one source.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub source: Source,
    pub filter: Option<Ev>,
    pub grouping: Option<Grouping>,
    pub having: Option<Ev>,
    pub project: Vec<Proj>,
    pub distinct: bool,
    pub order: Vec<OrderKey>,
    pub limit: Option<u64>,
    pub offset: u64,
    /// Columns at the end of the source's rows that the client never sees (pass-through only).
    pub strip: usize,
    /// How many leading columns of the source's rows the planner placed; `*` columns follow.
    pub explicit: usize,
}

impl Pipeline {
    /// A pipeline that passes its source's rows through unchanged.
    pub fn over(source: Source) -> Pipeline {
        Pipeline {
            source,
            filter: None,
            grouping: None,
            having: None,
            project: Vec::new(),
            distinct: false,
            order: Vec::new(),
            limit: None,
            offset: 0,
            strip: 0,
            explicit: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    CountStar,
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// `GROUP_CONCAT(x [SEPARATOR s])`: values (or the shards' partial lists) joined.
    GroupConcat,
    /// A column neither grouped nor aggregated (MySQL returns some row's value).
    AnyValue,
}

/// One aggregate of a grouping.
#[derive(Debug, Clone)]
pub struct AggSpec {
    pub kind: AggKind,
    pub name: String,
    /// The argument (raw mode) or the shard's partial result (merge mode).
    pub arg: Option<Ev>,
    /// Merge mode: AVG's partial count column.
    pub count_arg: Option<usize>,
    /// A column with MySQL's weight string of `arg`, for MIN/MAX of strings.
    pub weight: Option<usize>,
    /// The input is the shards' partial aggregates (COUNT is summed, AVG is SUM/COUNT).
    pub merge: bool,
    pub distinct: bool,
    /// GROUP_CONCAT's separator.
    pub separator: Vec<u8>,
    /// GROUP_CONCAT's ORDER BY (raw mode): (value column, weight-string column, descending).
    pub order: Vec<(usize, Option<usize>, bool)>,
}

/// GROUP BY keys (with optional weight-string columns) and aggregates.
#[derive(Debug, Clone, Default)]
pub struct Grouping {
    pub keys: Vec<(Ev, Option<usize>, String)>,
    pub aggs: Vec<AggSpec>,
    /// Without GROUP BY: one row even over no input.
    pub scalar: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
}

/// `left_expr = right_column`.
#[derive(Debug, Clone)]
pub struct JoinKey {
    /// Over the left rows.
    pub left: Ev,
    /// An explicit column of the right rows.
    pub right_col: usize,
    /// The right column's SQL (for the IN list).
    pub right_sql: String,
}

#[derive(Debug, Clone)]
pub struct JoinSpec {
    pub left: Source,
    pub left_explicit: usize,
    pub kind: JoinKind,
    /// `select <cols> from <tables>` of the right route.
    pub right_select: String,
    pub right_where: Vec<String>,
    pub right_keyspace: String,
    pub right_shards: Vec<String>,
    pub tablet_type: TabletType,
    /// The right table's vindex when `keys[0]` is its vindex column: route by the values.
    pub right_vindex: Option<String>,
    pub right_explicit: usize,
    pub keys: Vec<JoinKey>,
    /// Other conditions, over the joined row (left explicit, right explicit).
    pub on: Option<Ev>,
    /// left_explicit + right_explicit.
    pub explicit: usize,
}
