//! The SQL dialect: MariaDB's, as sqlparser's MySQL dialect reads it, with one fix. sqlparser
//! reads the operand of the `BINARY` operator as a whole expression, so
//! `a LIKE BINARY 'x%' AND b >= 5` became `a LIKE CAST('x%' AND b >= 5 AS BINARY)` (a different
//! query, and wrong rows once the gateway printed it). MySQL's `BINARY` binds tighter than any
//! binary operator: here its operand is one operand.

use std::any::TypeId;

use sqlparser::ast::{CastKind, DataType, Expr};
use sqlparser::dialect::{Dialect, MySqlDialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

static MYSQL: MySqlDialect = MySqlDialect {};

/// sqlparser's MySQL dialect with `BINARY <operand>` read by MySQL's precedence.
#[derive(Debug, Default)]
pub struct MariaDb;

impl Dialect for MariaDb {
    // The parser asks "is this MySQL?" by type: it is.
    fn dialect(&self) -> TypeId {
        TypeId::of::<MySqlDialect>()
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let Token::Word(w) = &parser.peek_token().token else { return None };
        if w.keyword != Keyword::BINARY || w.quote_style.is_some() {
            return None;
        }
        parser.next_token();
        // Tighter than `*`, `+`, comparisons and AND: only `.`, `::` and COLLATE go with it.
        let operand = parser.parse_subexpr(self.prec_value(Precedence::AtTz));
        Some(operand.map(|e| Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(e),
            data_type: DataType::Binary(None),
            format: None,
        }))
    }

    fn supports_binary_kw_as_cast(&self) -> bool {
        true
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        MYSQL.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        MYSQL.is_identifier_part(ch)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        MYSQL.is_delimited_identifier_start(ch)
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        MYSQL.identifier_quote_style(identifier)
    }

    fn parse_infix(&self, parser: &mut Parser, expr: &Expr, precedence: u8) -> Option<Result<Expr, ParserError>> {
        MYSQL.parse_infix(parser, expr, precedence)
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<sqlparser::ast::Statement, ParserError>> {
        MYSQL.parse_statement(parser)
    }

    fn is_table_factor_alias(&self, explicit: bool, kw: &Keyword, parser: &mut Parser) -> bool {
        MYSQL.is_table_factor_alias(explicit, kw, parser)
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        MYSQL.supports_string_literal_backslash_escape()
    }

    fn supports_string_literal_concatenation(&self) -> bool {
        MYSQL.supports_string_literal_concatenation()
    }

    fn ignores_wildcard_escapes(&self) -> bool {
        MYSQL.ignores_wildcard_escapes()
    }

    fn supports_numeric_prefix(&self) -> bool {
        MYSQL.supports_numeric_prefix()
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        MYSQL.supports_bitwise_shift_operators()
    }

    fn supports_multiline_comment_hints(&self) -> bool {
        MYSQL.supports_multiline_comment_hints()
    }

    fn require_interval_qualifier(&self) -> bool {
        MYSQL.require_interval_qualifier()
    }

    fn supports_limit_comma(&self) -> bool {
        MYSQL.supports_limit_comma()
    }

    fn supports_create_table_select(&self) -> bool {
        MYSQL.supports_create_table_select()
    }

    fn supports_insert_set(&self) -> bool {
        MYSQL.supports_insert_set()
    }

    fn supports_user_host_grantee(&self) -> bool {
        MYSQL.supports_user_host_grantee()
    }

    fn supports_table_hints(&self) -> bool {
        MYSQL.supports_table_hints()
    }

    fn requires_single_line_comment_whitespace(&self) -> bool {
        MYSQL.requires_single_line_comment_whitespace()
    }

    fn supports_match_against(&self) -> bool {
        MYSQL.supports_match_against()
    }

    fn supports_select_modifiers(&self) -> bool {
        MYSQL.supports_select_modifiers()
    }

    fn supports_set_names(&self) -> bool {
        MYSQL.supports_set_names()
    }

    fn supports_comma_separated_set_assignments(&self) -> bool {
        MYSQL.supports_comma_separated_set_assignments()
    }

    fn supports_update_order_by(&self) -> bool {
        MYSQL.supports_update_order_by()
    }

    fn supports_data_type_signed_suffix(&self) -> bool {
        MYSQL.supports_data_type_signed_suffix()
    }

    fn supports_cross_join_constraint(&self) -> bool {
        MYSQL.supports_cross_join_constraint()
    }

    fn supports_double_ampersand_operator(&self) -> bool {
        MYSQL.supports_double_ampersand_operator()
    }

    fn supports_comment_optimizer_hint(&self) -> bool {
        MYSQL.supports_comment_optimizer_hint()
    }

    fn supports_constraint_keyword_without_name(&self) -> bool {
        MYSQL.supports_constraint_keyword_without_name()
    }

    fn supports_key_column_option(&self) -> bool {
        MYSQL.supports_key_column_option()
    }

    fn supports_group_by_with_modifier(&self) -> bool {
        MYSQL.supports_group_by_with_modifier()
    }

    fn supports_left_associative_joins_without_parens(&self) -> bool {
        MYSQL.supports_left_associative_joins_without_parens()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(sql: &str) -> String {
        Parser::parse_sql(&MariaDb, sql).unwrap().remove(0).to_string()
    }

    #[test]
    fn binary_takes_one_operand() {
        assert_eq!(
            printed("select a from t where (b LIKE BINARY 'd%' AND c >= 5)"),
            "SELECT a FROM t WHERE (b LIKE CAST('d%' AS BINARY) AND c >= 5)"
        );
        assert_eq!(printed("select binary a = b, binary a * 2"), "SELECT CAST(a AS BINARY) = b, CAST(a AS BINARY) * 2");
        assert_eq!(printed("select cast(a and b as binary)"), "SELECT CAST(a AND b AS BINARY)");
        assert_eq!(printed("select binary('x')"), "SELECT CAST(('x') AS BINARY)");
        // Still MySQL: backquotes, DIV, LOCK TABLES, `binary` as a column type.
        assert_eq!(printed("select `a` div 2 from t"), "SELECT `a` DIV 2 FROM t");
        assert!(Parser::parse_sql(&MariaDb, "create table t (b binary(16), c varbinary(3))").is_ok());
        assert!(Parser::parse_sql(&MariaDb, "lock tables t write").is_ok());
    }
}
