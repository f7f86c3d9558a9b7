/** A request over a size or count limit (400), or with a body of a type the app does not parse (415). */
export interface PayloadViolation {
  readonly error: 'illegal_argument' | 'message_send_error' | 'unsupported_media_type';
  readonly description: string;
}

export function illegal(description: string): PayloadViolation {
  return { error: 'illegal_argument', description };
}
