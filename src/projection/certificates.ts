import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** A PEM certificate with its PEM private key. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

/** What a leaf certificate is for: serving TLS, authenticating a client, or both. */
export interface LeafRequest {
  commonName: string;
  /** Organisations become the Kubernetes groups of a client certificate. */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client' | 'both';
  validForMs: number;
  now?: Date;
}

/**
 * Key generation is native (node:crypto) because forge's pure-JS RSA takes seconds; forge
 * only assembles and signs the X.509 structure, which node:crypto cannot do.
 */
function newRsaKey(): {
  publicKey: forge.pki.rsa.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  pem: string;
} {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function baseCertificate(
  publicKey: forge.pki.PublicKey,
  now: Date,
  validForMs: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: a leading 0x00..0x7f byte keeps DER from reading it as negative.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  // Back-date a minute so a peer whose clock is slightly behind accepts the certificate.
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + validForMs);
  return cert;
}

/** A self-signed certificate authority. */
export function createCertificateAuthority(
  commonName: string,
  validForMs: number,
  now = new Date(),
): KeyPair {
  const key = newRsaKey();
  const cert = baseCertificate(key.publicKey, now, validForMs);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

/** A leaf certificate signed by `ca`. */
export function issueCertificate(ca: KeyPair, request: LeafRequest): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const key = newRsaKey();
  const cert = baseCertificate(key.publicKey, request.now ?? new Date(), request.validForMs);
  const subject: forge.pki.CertificateField[] = [{ name: 'commonName', value: request.commonName }];
  for (const org of request.organizations ?? []) subject.push({ name: 'organizationName', value: org });
  cert.setSubject(subject);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(request.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: request.usage !== 'client',
      clientAuth: request.usage !== 'server',
    },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

/** When the first certificate in `certPem` stops being valid. */
export function certificateNotAfter(certPem: string): Date {
  return forge.pki.certificateFromPem(certPem).validity.notAfter;
}

/** When the first certificate in `certPem` starts being valid. */
export function certificateNotBefore(certPem: string): Date {
  return forge.pki.certificateFromPem(certPem).validity.notBefore;
}
