//! Expressions the gateway evaluates itself (over merged or joined rows), compiled from SQL by
//! the planner (`planner/compile.rs`) and evaluated by the engine with MySQL's rules.

use super::value::Val;

/// A compiled expression.
#[derive(Debug, Clone)]
pub enum Ev {
    /// A column of the input row, read with its kind.
    Col(usize),
    Lit(Val),
    Arith(Box<Ev>, Arith, Box<Ev>),
    Cmp(Box<Ev>, CmpOp, Box<Ev>),
    And(Box<Ev>, Box<Ev>),
    Or(Box<Ev>, Box<Ev>),
    Xor(Box<Ev>, Box<Ev>),
    Not(Box<Ev>),
    Neg(Box<Ev>),
    IsNull(Box<Ev>, bool),
    In(Box<Ev>, Vec<Ev>, bool),
    Between(Box<Ev>, Box<Ev>, Box<Ev>, bool),
    Func(Func, Vec<Ev>),
    Case {
        operand: Option<Box<Ev>>,
        whens: Vec<(Ev, Ev)>,
        otherwise: Option<Box<Ev>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    IntDiv,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Coalesce,
    If,
    NullIf,
    Concat,
    Abs,
    Greatest,
    Least,
    Lower,
    Upper,
    /// `LENGTH`: bytes.
    Length,
    /// `CHAR_LENGTH`: characters (bytes for a binary string).
    CharLength,
    Floor,
    Ceil,
    /// `YEAR`, `MONTH`, `DAY` of a date or datetime.
    Year,
    Month,
    Day,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    /// `<=>`: NULL-safe equality.
    Spaceship,
}
