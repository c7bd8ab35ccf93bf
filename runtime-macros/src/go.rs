//! Expansion of `go!`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::parse::Parser;
use syn::{parse_quote, Block, Expr};

const EMPTY_INPUT: &str = "go! needs a call, a closure or a block of statements";

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    try_expand(input).unwrap_or_else(syn::Error::into_compile_error)
}

fn try_expand(input: TokenStream) -> syn::Result<TokenStream> {
    if input.is_empty() {
        return Err(syn::Error::new(Span::call_site(), EMPTY_INPUT));
    }
    if let Ok(expr) = syn::parse2::<Expr>(input.clone()) {
        return Ok(expand_expr(expr));
    }
    let stmts = Block::parse_within.parse2(input).map_err(|err| {
        syn::Error::new(
            err.span(),
            format!("go! expects a call, a closure or statements: {err}"),
        )
    })?;
    Ok(quote!(::goro::spawn(move || { #(#stmts)* })))
}

fn expand_expr(expr: Expr) -> TokenStream {
    let mut lets = Vec::new();
    match expr {
        Expr::Call(mut call) => {
            // A plain path names a function or a variable: naming it has no
            // side effects and the `move` closure captures a variable here
            // anyway, while leaving it in the call keeps generic inference
            // (e.g. of closure arguments) working.
            if !matches!(*call.func, Expr::Path(_)) {
                hoist(&mut call.func, "__goro_f", &mut lets);
            }
            hoist_args(call.args.iter_mut(), &mut lets);
            quote!({ #(#lets)* ::goro::spawn(move || #call) })
        }
        Expr::MethodCall(mut call) => {
            hoist(&mut call.receiver, "__goro_recv", &mut lets);
            hoist_args(call.args.iter_mut(), &mut lets);
            quote!({ #(#lets)* ::goro::spawn(move || #call) })
        }
        Expr::Block(_)
        | Expr::Unsafe(_)
        | Expr::If(_)
        | Expr::Match(_)
        | Expr::Loop(_)
        | Expr::While(_)
        | Expr::ForLoop(_)
        | Expr::Macro(_) => quote!(::goro::spawn(move || { #expr })),
        _ => quote!(::goro::spawn(#expr)),
    }
}

fn hoist_args<'a>(args: impl Iterator<Item = &'a mut Expr>, lets: &mut Vec<TokenStream>) {
    for (i, arg) in args.enumerate() {
        // A closure literal stays in the call so the callee can still infer
        // its parameter types; building it has no side effects to hoist.
        if !matches!(arg, Expr::Closure(_)) {
            hoist(arg, &format!("__goro_a{i}"), lets);
        }
    }
}

/// Binds `expr` to a hygienic `let` evaluated at the `go!` site and leaves
/// the temporary in its place.
fn hoist(expr: &mut Expr, name: &str, lets: &mut Vec<TokenStream>) {
    let tmp = Ident::new(name, Span::mixed_site());
    let value = std::mem::replace(expr, parse_quote!(#tmp));
    lets.push(quote!(let #tmp = #value;));
}

#[cfg(test)]
mod tests {
    use super::expand;
    use crate::test_util::{assert_compile_error, assert_tokens_eq};
    use proc_macro2::TokenStream;
    use quote::quote;

    fn assert_expands(input: TokenStream, expected: TokenStream) {
        assert_tokens_eq(expand(input), expected);
    }

    fn assert_error(input: TokenStream, message: &str) {
        assert_compile_error(expand(input), message);
    }

    #[test]
    fn call_hoists_arguments_in_order() {
        assert_expands(
            quote!(worker(w, jobs.clone(), results.clone())),
            quote!({
                let __goro_a0 = w;
                let __goro_a1 = jobs.clone();
                let __goro_a2 = results.clone();
                ::goro::spawn(move || worker(__goro_a0, __goro_a1, __goro_a2))
            }),
        );
    }

    #[test]
    fn call_hoists_a_computed_function_before_the_arguments() {
        assert_expands(
            quote!(handlers[pick()](x)),
            quote!({
                let __goro_f = handlers[pick()];
                let __goro_a0 = x;
                ::goro::spawn(move || __goro_f(__goro_a0))
            }),
        );
    }

    #[test]
    fn call_through_path_without_arguments() {
        assert_expands(
            quote!(module::f::<u8>()),
            quote!({ ::goro::spawn(move || module::f::<u8>()) }),
        );
    }

    #[test]
    fn call_keeps_closure_arguments_in_place() {
        assert_expands(
            quote!(run(n, |x| x.len(), m)),
            quote!({
                let __goro_a0 = n;
                let __goro_a2 = m;
                ::goro::spawn(move || run(__goro_a0, |x| x.len(), __goro_a2))
            }),
        );
    }

    #[test]
    fn method_call_hoists_receiver_then_arguments() {
        assert_expands(
            quote!(make().parse::<u32>(a, b + 1)),
            quote!({
                let __goro_recv = make();
                let __goro_a0 = a;
                let __goro_a1 = b + 1;
                ::goro::spawn(move || __goro_recv.parse::<u32>(__goro_a0, __goro_a1))
            }),
        );
    }

    #[test]
    fn closure_and_path_are_spawned_as_is() {
        assert_expands(quote!(move || 1 + 2), quote!(::goro::spawn(move || 1 + 2)));
        assert_expands(quote!(task), quote!(::goro::spawn(task)));
    }

    #[test]
    fn statements_run_in_a_move_closure() {
        assert_expands(
            quote!(let x = 1; tx.send(x).unwrap();),
            quote!(::goro::spawn(move || {
                let x = 1;
                tx.send(x).unwrap();
            })),
        );
        assert_expands(
            quote!(f(a);),
            quote!(::goro::spawn(move || {
                f(a);
            })),
        );
    }

    #[test]
    fn block_like_expressions_and_macros_run_in_a_move_closure() {
        assert_expands(
            quote!(for i in 0..3 {
                tx.send(i).unwrap();
            }),
            quote!(::goro::spawn(move || {
                for i in 0..3 {
                    tx.send(i).unwrap();
                }
            })),
        );
        assert_expands(
            quote!(println!("{}", x)),
            quote!(::goro::spawn(move || { println!("{}", x) })),
        );
    }

    #[test]
    fn bad_input_is_a_compile_error() {
        assert_error(
            TokenStream::new(),
            "go! needs a call, a closure or a block of statements",
        );
        assert_error(
            quote!(f(a) g(b)),
            "go! expects a call, a closure or statements",
        );
        assert_error(
            quote!(let = 1;),
            "go! expects a call, a closure or statements",
        );
    }
}
