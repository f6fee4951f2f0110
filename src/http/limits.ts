import { isIP } from 'node:net';
import express, { type Request, type RequestHandler } from 'express';
import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  type FieldNode,
  type GraphQLField,
  type GraphQLNamedType,
  type SelectionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

import type { Config } from '../config.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../services/pagination.js';

/**
 * Request limits: the size of a body, the depth and complexity of a GraphQL operation, and the
 * client address that login throttling counts.
 */

/** Multiplier of a list field without a `first` argument, whose length the query cannot cap. */
export const UNPAGED_LIST_FACTOR = 10;

/** Apollo Server options that enforce the configured limits; spread them into its options. */
export function graphqlLimits(config: Config): {
  introspection: boolean;
  csrfPrevention: boolean;
  maxRecursiveSelections: boolean;
  validationRules: ValidationRule[];
} {
  return {
    introspection: config.introspection,
    // Apollo's default, written out: a POST that a browser may send cross-site without a
    // preflight (form content types, no custom header) is rejected with BAD_REQUEST.
    csrfPrevention: true,
    // Apollo then runs the rules below only on documents that passed the standard validation,
    // and rejects first any document whose fragments expand to over 10 million selections.
    maxRecursiveSelections: true,
    validationRules: [queryLimitsRule(config.maxQueryDepth, config.maxQueryComplexity)],
  };
}

/**
 * Parses JSON bodies up to `maxBodyBytes`; a larger body fails with HTTP 413, which the error
 * handler of the app turns into `BAD_REQUEST`.
 */
export function jsonBodyParser(config: Config): RequestHandler {
  return express.json({ limit: config.maxBodyBytes });
}

/**
 * Returns the address that login throttling counts for a request: the socket's peer, or with
 * `trustProxy` the last `X-Forwarded-For` entry, which is the address the nearest proxy saw. An IPv4 address
 * mapped into IPv6 counts as the IPv4 address, and an IPv6 address counts as its /64 network,
 * because a provider usually assigns a whole /64 to one client.
 */
export function clientAddress(req: Request, trustProxy: boolean): string | undefined {
  const forwarded = trustProxy ? lastForwardedFor(req.headers['x-forwarded-for']) : undefined;
  const address = forwarded ?? req.socket.remoteAddress;

  return address === undefined ? undefined : throttledAddress(address);
}

function lastForwardedFor(header: string | string[] | undefined): string | undefined {
  const entries = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
  const last = entries.map((entry) => entry.trim()).findLast((entry) => entry !== '');

  return last !== undefined && isIP(last.split('%')[0]) !== 0 ? last : undefined;
}

function throttledAddress(address: string): string {
  const plain = address.split('%')[0].toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  if (mapped) {
    return mapped[1];
  }
  if (isIP(plain) !== 6 || plain.includes('.')) {
    return plain;
  }

  return `${ipv6Groups(plain).slice(0, 4).join(':')}::/64`;
}

/** Expands an IPv6 address without an embedded IPv4 part to its eight groups. */
function ipv6Groups(address: string): string[] {
  const [head, tail] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  if (tail === undefined) {
    return headGroups.map((group) => parseInt(group, 16).toString(16));
  }

  const tailGroups = tail ? tail.split(':') : [];
  const zeros = new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');

  return [...headGroups, ...zeros, ...tailGroups].map((group) => parseInt(group, 16).toString(16));
}

interface Cost {
  depth: number;
  complexity: number;
}

const FREE: Cost = { depth: 0, complexity: 0 };

/**
 * Rejects an operation nested deeper than `maxDepth` fields, or whose complexity exceeds
 * `maxComplexity`. Apollo reports both as `GRAPHQL_VALIDATION_FAILED`, with
 * `extensions.reason` set to `QUERY_TOO_DEEP` or `QUERY_TOO_COMPLEX`.
 *
 * Complexity: every field costs 1, plus its selections times a multiplier. The multiplier is:
 * - for a field with a `first` argument, the page size: the literal value, 100 for a variable
 *   (validation cannot see its value), or 20 when omitted;
 * - 1 for a list directly inside such a page, which is the page's `edges`;
 * - `UNPAGED_LIST_FACTOR` for any other list of objects, and 1 otherwise.
 * Introspection fields are not counted here, because graphql-js 16 already limits their nesting
 * with its own MaxIntrospectionDepthRule, and `introspection` turns them off.
 */
export function queryLimitsRule(maxDepth: number, maxComplexity: number): ValidationRule {
  return (context: ValidationContext) => {
    const meter = new OperationMeter(context);

    return {
      OperationDefinition(node) {
        const rootType = context.getSchema().getRootType(node.operation) ?? undefined;
        const cost = meter.measureSelectionSet(node.selectionSet, rootType, false);
        if (cost.depth > maxDepth) {
          context.reportError(
            new GraphQLError(
              `The operation nests ${cost.depth} fields deep; the maximum is ${maxDepth}.`,
              {
                nodes: [node],
                extensions: { reason: 'QUERY_TOO_DEEP', depth: cost.depth, maxDepth },
              },
            ),
          );
        }
        if (cost.complexity > maxComplexity) {
          const complexity = Number.isFinite(cost.complexity) ? cost.complexity : Number.MAX_VALUE;
          context.reportError(
            new GraphQLError(
              `The operation has a complexity of ${complexity}; the maximum is ${maxComplexity}. ` +
                'Ask for smaller pages or fewer nested lists.',
              {
                nodes: [node],
                extensions: { reason: 'QUERY_TOO_COMPLEX', complexity, maxComplexity },
              },
            ),
          );
        }

        return false;
      },
    };
  };
}

/**
 * Measures selection sets. A fragment is measured once per document and per position (inside a
 * page or not), so fragments spread many times cost linear time to measure.
 */
class OperationMeter {
  private readonly fragments = new Map<string, Cost>();
  private readonly inProgress = new Set<string>();

  constructor(private readonly context: ValidationContext) {}

  measureSelectionSet(
    selectionSet: SelectionSetNode,
    parentType: GraphQLNamedType | undefined,
    inPage: boolean,
  ): Cost {
    let depth = 0;
    let complexity = 0;
    for (const selection of selectionSet.selections) {
      const cost = this.measureSelection(selection, parentType, inPage);
      depth = Math.max(depth, cost.depth);
      complexity += cost.complexity;
    }

    return { depth, complexity };
  }

  private measureSelection(
    selection: SelectionNode,
    parentType: GraphQLNamedType | undefined,
    inPage: boolean,
  ): Cost {
    if (selection.kind === Kind.FIELD) {
      return this.measureField(selection, parentType, inPage);
    }
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      return this.measureFragment(selection.name.value, inPage);
    }

    const condition = selection.typeCondition?.name.value;
    const type = condition ? this.context.getSchema().getType(condition) : parentType;

    return this.measureSelectionSet(selection.selectionSet, type ?? undefined, inPage);
  }

  private measureFragment(name: string, inPage: boolean): Cost {
    const key = `${name}:${inPage}`;
    const known = this.fragments.get(key);
    if (known) {
      return known;
    }

    // Unknown and cyclic fragments are reported by the standard rules; they cost nothing here.
    const fragment = this.context.getFragment(name);
    if (!fragment || this.inProgress.has(key)) {
      return FREE;
    }

    this.inProgress.add(key);
    const type = this.context.getSchema().getType(fragment.typeCondition.name.value);
    const cost = this.measureSelectionSet(fragment.selectionSet, type ?? undefined, inPage);
    this.inProgress.delete(key);
    this.fragments.set(key, cost);

    return cost;
  }

  private measureField(
    field: FieldNode,
    parentType: GraphQLNamedType | undefined,
    inPage: boolean,
  ): Cost {
    if (field.name.value.startsWith('__')) {
      return FREE;
    }
    if (!field.selectionSet) {
      return { depth: 1, complexity: 1 };
    }

    const definition = fieldDefinition(parentType, field.name.value);
    const childType = definition ? getNamedType(definition.type) : undefined;
    const paged = definition?.args.some((arg) => arg.name === 'first') ?? false;
    let factor = 1;
    if (paged) {
      factor = pageSize(field);
    } else if (definition && isListType(getNullableType(definition.type)) && !inPage) {
      factor = UNPAGED_LIST_FACTOR;
    }

    const children = this.measureSelectionSet(field.selectionSet, childType, paged);

    return { depth: 1 + children.depth, complexity: 1 + factor * children.complexity };
  }
}

function fieldDefinition(
  parentType: GraphQLNamedType | undefined,
  name: string,
): GraphQLField<unknown, unknown> | undefined {
  if (parentType && (isObjectType(parentType) || isInterfaceType(parentType))) {
    return parentType.getFields()[name];
  }

  return undefined;
}

/** Returns the page size that a `first` argument requests, as far as validation can tell. */
function pageSize(field: FieldNode): number {
  const argument = field.arguments?.find((arg) => arg.name.value === 'first');
  if (!argument || argument.value.kind === Kind.NULL) {
    return DEFAULT_PAGE_SIZE;
  }
  if (argument.value.kind === Kind.INT) {
    return Math.min(Math.max(Number(argument.value.value), 0), MAX_PAGE_SIZE);
  }

  return MAX_PAGE_SIZE;
}
