//! Expansion of `select!` / `select_biased!` (their `macro_rules!` fronts in
//! `goro::chan` call `__select!($crate, biased; arms…)`).
//!
//! ```ignore
//! select! {
//!     recv(r) -> msg => a(msg),
//!     send(s, v) -> res => b(res),
//!     default(t) => c(),
//! }
//! // expands to (names are hygienic)
//! match (&(r), (&(s), v), t) {
//!     (ch0, (ch1, msg1), timeout) => {
//!         let arm0 = $crate::chan::__private::RecvArm::new(ch0);
//!         let arm1 = $crate::chan::__private::SendArm::new(ch1, msg1);
//!         match $crate::chan::__private::select(
//!             &[arm0.arm(), arm1.arm()], false, Mode::Timeout(timeout)) {
//!             Some(0) => { discard((arm1,)); let msg = arm0.into_result(); a(msg) }
//!             Some(1) => { discard((arm0,)); let res = arm1.into_result(); b(res) }
//!             _ => { discard((arm0, arm1)); c() }
//!         }
//!     }
//! }
//! ```
//! The scrutinee evaluates every operand once, in source order, and keeps
//! temporaries (such as `after(d)`) alive for the whole select.

use proc_macro2::{Ident, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, LitBool, Pat, Token};

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    try_expand(input).unwrap_or_else(syn::Error::into_compile_error)
}

/// One arm as written.
struct Arm {
    op: Op,
    body: Expr,
}

enum Op {
    Recv { chan: Expr, pat: Pat },
    Send { chan: Expr, msg: Expr, pat: Pat },
    Default { timeout: Option<Expr> },
}

fn try_expand(input: TokenStream) -> syn::Result<TokenStream> {
    let (krate, rest) = split_crate(input)?;
    let (biased, arms) = parse_input.parse2(rest)?;
    Ok(generate(&krate, biased, arms))
}

/// Splits off the leading `$crate,` the front macro passes.
fn split_crate(input: TokenStream) -> syn::Result<(TokenStream, TokenStream)> {
    let mut tokens = input.into_iter();
    let mut krate = TokenStream::new();
    for token in tokens.by_ref() {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                return Ok((krate, tokens.collect()));
            }
            _ => krate.extend([token]),
        }
    }
    Err(syn::Error::new(
        Span::call_site(),
        "use goro::select! or goro::select_biased!",
    ))
}

fn parse_input(input: ParseStream) -> syn::Result<(bool, Vec<Arm>)> {
    let biased: LitBool = input.parse()?;
    input.parse::<Token![;]>()?;
    let mut arms = Vec::new();
    let mut has_default = false;
    while !input.is_empty() {
        let arm = parse_arm(input)?;
        if let Op::Default { .. } = arm.op {
            if has_default {
                return Err(syn::Error::new_spanned(
                    &arm.body,
                    "a select has at most one `default` arm",
                ));
            }
            has_default = true;
        }
        let needs_comma = !is_blocklike(&arm.body);
        arms.push(arm);
        if input.is_empty() {
            break;
        }
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
        } else if needs_comma {
            return Err(input.error("expected `,` after this select arm"));
        }
    }
    Ok((biased.value, arms))
}

fn parse_arm(input: ParseStream) -> syn::Result<Arm> {
    let kind: Ident = input.parse()?;
    let op = match kind.to_string().as_str() {
        "recv" => {
            let [chan] = parse_args::<1>(input, &kind, "recv(receiver)")?;
            Op::Recv {
                chan,
                pat: parse_binding(input)?,
            }
        }
        "send" => {
            let [chan, msg] = parse_args::<2>(input, &kind, "send(sender, value)")?;
            Op::Send {
                chan,
                msg,
                pat: parse_binding(input)?,
            }
        }
        "default" => {
            // `default`, `default()` (crossbeam's spelling of the same) or
            // `default(timeout)`.
            let timeout = if input.peek(syn::token::Paren) {
                let fork = input.fork();
                let content;
                syn::parenthesized!(content in fork);
                if content.is_empty() {
                    let _empty;
                    syn::parenthesized!(_empty in input);
                    None
                } else {
                    let [timeout] = parse_args::<1>(input, &kind, "default(timeout)")?;
                    Some(timeout)
                }
            } else {
                None
            };
            Op::Default { timeout }
        }
        _ => {
            return Err(syn::Error::new(
                kind.span(),
                "expected `recv(r) -> msg`, `send(s, value) -> res` or `default`",
            ))
        }
    };
    input.parse::<Token![=>]>()?;
    let body = input.call(Expr::parse_with_earlier_boundary_rule)?;
    Ok(Arm { op, body })
}

/// Parses `(a, b, …)` with exactly `N` expressions.
fn parse_args<const N: usize>(
    input: ParseStream,
    kind: &Ident,
    form: &str,
) -> syn::Result<[Expr; N]> {
    let content;
    syn::parenthesized!(content in input);
    let args = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
    let args: Vec<Expr> = args.into_iter().collect();
    args.try_into()
        .map_err(|_| syn::Error::new(kind.span(), format!("expected `{form}`")))
}

/// Parses `-> pattern`.
fn parse_binding(input: ParseStream) -> syn::Result<Pat> {
    input.parse::<Token![->]>()?;
    Pat::parse_multi_with_leading_vert(input)
}

/// Whether an arm body may be followed by the next arm without a comma.
fn is_blocklike(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Block(_)
            | Expr::Unsafe(_)
            | Expr::If(_)
            | Expr::Match(_)
            | Expr::Loop(_)
            | Expr::While(_)
            | Expr::ForLoop(_)
            | Expr::TryBlock(_)
            | Expr::Const(_)
    )
}

/// An arm body as the tail of the generated block: a plain block body is
/// spliced in as statements, so `=> { expr }` does not trip the
/// `unused_braces` lint in the caller's crate.
fn splice(body: Expr) -> TokenStream {
    match body {
        Expr::Block(block) if block.attrs.is_empty() && block.label.is_none() => {
            let stmts = block.block.stmts;
            quote!(#(#stmts)*)
        }
        body => quote!(#body),
    }
}

fn hygienic(name: &str, k: usize) -> Ident {
    format_ident!("__goro_{}{}", name, k, span = Span::mixed_site())
}

fn generate(krate: &TokenStream, biased: bool, arms: Vec<Arm>) -> TokenStream {
    let private = quote!(#krate::chan::__private);
    let mut operands = Vec::new();
    let mut bindings = Vec::new();
    let mut builds = Vec::new();
    let mut names = Vec::new();
    let mut chosen = Vec::new();
    let mut mode = quote!(#private::Mode::Block);
    let mut default_body = None;
    for arm in arms {
        let k = names.len();
        let (ch, msg, name) = (hygienic("ch", k), hygienic("msg", k), hygienic("arm", k));
        let body = arm.body;
        match arm.op {
            Op::Recv { chan, pat } => {
                operands.push(quote!(&(#chan)));
                bindings.push(quote!(#ch));
                builds.push(quote!(let #name = #private::RecvArm::new(#ch);));
                chosen.push((pat, body));
                names.push(name);
            }
            Op::Send {
                chan,
                msg: value,
                pat,
            } => {
                operands.push(quote!((&(#chan), #value)));
                bindings.push(quote!((#ch, #msg)));
                builds.push(quote!(let #name = #private::SendArm::new(#ch, #msg);));
                chosen.push((pat, body));
                names.push(name);
            }
            Op::Default { timeout } => {
                mode = match timeout {
                    Some(timeout) => {
                        let t = Ident::new("__goro_timeout", Span::mixed_site());
                        operands.push(quote!(#timeout));
                        bindings.push(quote!(#t));
                        quote!(#private::Mode::Timeout(#t))
                    }
                    None => quote!(#private::Mode::Poll),
                };
                default_body = Some(body);
            }
        }
    }
    let cases = chosen.into_iter().enumerate().map(|(k, (pat, body))| {
        let index = Literal::usize_unsuffixed(k);
        let name = &names[k];
        // `let` takes a top-level or-pattern only in parentheses.
        let pat = match pat {
            Pat::Or(_) => quote!((#pat)),
            _ => quote!(#pat),
        };
        let others = names.iter().filter(|n| *n != name);
        let body = splice(body);
        quote! {
            ::core::option::Option::Some(#index) => {
                #private::discard((#(#others,)*));
                let #pat = #name.into_result();
                #body
            }
        }
    });
    let fallback = match default_body {
        Some(body) => {
            let body = splice(body);
            quote!(_ => { #private::discard((#(#names,)*)); #body })
        }
        None => quote!(_ => ::core::unreachable!("a select without default completes")),
    };
    let selected = Ident::new("__goro_selected", Span::mixed_site());
    quote! {
        match (#(#operands,)*) {
            (#(#bindings,)*) => {
                #(#builds)*
                let #selected = #private::select(&[#(#names.arm()),*], #biased, #mode);
                match #selected {
                    #(#cases)*
                    #fallback
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::assert_compile_error;

    fn expand_str(src: &str) -> TokenStream {
        expand(src.parse().unwrap())
    }

    #[test]
    fn arms_expand() {
        let out = expand_str(
            "goro, false; recv(r) -> m => m.unwrap(), send(s, 1) -> res => { res } default => 0",
        )
        .to_string();
        assert!(out.contains("RecvArm :: new"), "{out}");
        assert!(out.contains("SendArm :: new"), "{out}");
        assert!(out.contains("Mode :: Poll"), "{out}");
    }

    #[test]
    fn empty_parentheses_are_a_plain_default() {
        let out = expand_str("goro, false; recv(r) -> m => 1, default() => 0").to_string();
        assert!(out.contains("Mode :: Poll"), "{out}");
    }

    #[test]
    fn no_arms_blocks_forever() {
        let out = expand_str("goro, true;").to_string();
        assert!(out.contains("Mode :: Block"), "{out}");
    }

    #[test]
    fn two_defaults_are_an_error() {
        assert_compile_error(
            expand_str("goro, false; default => 1, default => 2"),
            "at most one `default`",
        );
    }

    #[test]
    fn unknown_arm_is_an_error() {
        assert_compile_error(
            expand_str("goro, false; take(r) -> m => 1"),
            "expected `recv",
        );
    }

    #[test]
    fn wrong_arity_is_an_error() {
        assert_compile_error(
            expand_str("goro, false; send(s) -> r => 1"),
            "expected `send(sender, value)`",
        );
    }

    #[test]
    fn missing_comma_is_an_error() {
        assert_compile_error(
            expand_str("goro, false; recv(r) -> m => 1 recv(q) -> n => 2"),
            "expected `,`",
        );
    }
}
